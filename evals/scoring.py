"""Per-cell summaries: a task's metric suite over a list of scored samples, with bootstrap intervals.

A *sample* here is a dict with ``gold``, ``pred`` (the predicted value of the scored field, or None), ``score``
(the per-example task metric), ``group`` (grouping key for parsing), ``error`` (an exception message, or
None) and ``degenerate`` (the program's degenerate-output reasons: repeated items, marker echo, invented lines). Samples whose prediction is None are counted as format failures (or as errors, when the call raised)
and scored as wrong; the same metrics restricted to parsed samples are reported beside them.
"""

from __future__ import annotations

from typing import Any, Sequence

from logreasoner.evals import metrics as M

__all__ = ["TASK_METRICS", "LOWER_IS_BETTER", "primary_metric", "summarize", "metric_stats"]

# task -> (primary metric, all metrics)
TASK_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "anomaly": ("f1", ("f1", "precision", "recall", "accuracy")),
    "diagnosis": ("accuracy", ("accuracy", "macro_f1")),
    "parse": ("grouping_accuracy", ("grouping_accuracy", "parsing_accuracy", "edit_distance")),
    "rca": ("rouge_l", ("rouge_l",)),
    "interpret": ("rouge_l", ("rouge_l",)),
}
LOWER_IS_BETTER = {"edit_distance"}


def primary_metric(task: str) -> str:
    return TASK_METRICS.get(task, ("score", ("score",)))[0]


def metric_stats(task: str, samples: Sequence[dict[str, Any]]) -> dict[str, M.Stat]:
    """The task's metrics as weighted statistics over ``samples``."""
    gold = [s["gold"] for s in samples]
    pred = [s["pred"] for s in samples]
    if task == "anomaly":
        return M.prf_stats(gold, pred, "abnormal")
    if task == "diagnosis":
        return {"accuracy": M.accuracy_stat(gold, pred), "macro_f1": M.macro_f1_stat(gold, pred)}
    if task == "parse":
        groups = [s.get("group") for s in samples]
        pa = [float(p is not None and M.normalize_template(g) == M.normalize_template(p)) for g, p in zip(gold, pred)]
        ed = [M.normalized_edit_distance(g, p) for g, p in zip(gold, pred)]
        return {"grouping_accuracy": M.grouping_accuracy_stat(gold, pred, groups),
                "parsing_accuracy": M.mean_stat(pa), "edit_distance": M.mean_stat(ed)}
    if task in ("rca", "interpret"):
        return {"rouge_l": M.mean_stat([float(s.get("score") or 0.0) for s in samples])}
    return {"score": M.mean_stat([float(s.get("score") or 0.0) for s in samples])}


def _values(task: str, samples: Sequence[dict[str, Any]]) -> dict[str, float]:
    import numpy as np

    if not samples:
        return {}
    w = np.ones(len(samples))
    return {k: float(s(w)) for k, s in metric_stats(task, samples).items()}


def summarize(task: str, samples: Sequence[dict[str, Any]], *, n_resamples: int = 1000, seed: int = 0,
              confidence: float = 0.95) -> dict[str, Any]:
    """Scores, intervals, failure counts of one cell (program x model x dataset)."""
    n = len(samples)
    errors = sum(1 for s in samples if s.get("error"))
    ff = sum(1 for s in samples if s.get("pred") is None and not s.get("error"))
    dg = [s for s in samples if s.get("degenerate")]
    reasons: dict[str, int] = {}
    for s in dg:
        for r in s["degenerate"]:
            reasons[r] = reasons.get(r, 0) + 1
    out: dict[str, Any] = {
        "n": n,
        "primary_metric": primary_metric(task),
        "errors": errors,
        "error_rate": errors / n if n else 0.0,
        "format_failures": ff,
        "format_failure_rate": ff / n if n else 0.0,
        "degenerate": len(dg),
        "degenerate_rate": len(dg) / n if n else 0.0,
        "degenerate_reasons": reasons,
        "metrics": {},
        "ci": {},
        "parsed_only": {},
    }
    if not n:
        return out
    stats = metric_stats(task, samples)
    out["metrics"] = _values(task, samples)
    if n_resamples > 0:
        out["ci"] = {k: list(M.bootstrap_ci(s, n, n_resamples=n_resamples, seed=seed, confidence=confidence))
                     for k, s in stats.items()}
    parsed = [s for s in samples if s.get("pred") is not None]
    out["parsed_only"] = _values(task, parsed)
    out["parsed_n"] = len(parsed)
    out["score"] = out["metrics"].get(out["primary_metric"])
    out["score_ci"] = out["ci"].get(out["primary_metric"])
    groups = sorted({s.get("group") for s in samples if s.get("group") is not None})
    if task == "parse" and len(groups) > 1:
        out["by_group"] = {g: _values(task, [s for s in samples if s.get("group") == g]) for g in groups}
    return out
