"""Per-cell summaries: a task's metric suite over a list of scored samples, with bootstrap intervals.

A *sample* here is a dict with ``gold``, ``pred`` (the predicted value of the scored field, or None), ``score``
(the per-example task metric), ``group`` (grouping key for parsing), ``error`` (an exception message, or
None) and ``degenerate`` (the program's degenerate-output reasons: repeated items, marker echo, invented lines). Samples whose prediction is None are counted as format failures (or as errors, when the call raised)
and scored as wrong; the same metrics restricted to parsed samples are reported beside them.
"""

from __future__ import annotations

from typing import Any, Sequence

from logreasoner.errors import UnknownTaskError
from logreasoner.evals import metrics as M
from logreasoner.tasks import METRIC_SUITES, Task, get_task

__all__ = ["LOWER_IS_BETTER", "primary_metric", "summarize", "metric_stats", "task_suite"]

LOWER_IS_BETTER = {"edit_distance"}


def _task(task: str | Task) -> Task | None:
    try:
        return get_task(task)
    except UnknownTaskError:  # a result file of a task this install does not register: the generic score
        return None


def task_suite(task: str | Task) -> str:
    """The metric suite the task declares (``Task.suite``; ``score`` for a task this install does not know)."""
    t = _task(task)
    return t.suite if t is not None else "score"


def primary_metric(task: str | Task) -> str:
    return METRIC_SUITES[task_suite(task)][0]


def metric_stats(task: str | Task, samples: Sequence[dict[str, Any]]) -> dict[str, M.Stat]:
    """The task's metric suite as weighted statistics over ``samples``."""
    gold = [s["gold"] for s in samples]
    pred = [s["pred"] for s in samples]
    suite = task_suite(task)
    if suite == "binary":
        return M.prf_stats(gold, pred, get_task(task).positive_label or "")
    if suite == "labels":
        return {"accuracy": M.accuracy_stat(gold, pred), "macro_f1": M.macro_f1_stat(gold, pred)}
    if suite == "templates":
        groups = [s.get("group") for s in samples]
        pa = [float(p is not None and M.normalize_template(g) == M.normalize_template(p)) for g, p in zip(gold, pred)]
        ed = [M.normalized_edit_distance(g, p) for g, p in zip(gold, pred)]
        return {"grouping_accuracy": M.grouping_accuracy_stat(gold, pred, groups),
                "parsing_accuracy": M.mean_stat(pa), "edit_distance": M.mean_stat(ed)}
    if suite == "rouge_l":
        return {"rouge_l": M.mean_stat([float(s.get("score") or 0.0) for s in samples])}
    return {"score": M.mean_stat([float(s.get("score") or 0.0) for s in samples])}


def _values(task: str | Task, samples: Sequence[dict[str, Any]]) -> dict[str, float]:
    import numpy as np

    if not samples:
        return {}
    w = np.ones(len(samples))
    return {k: float(s(w)) for k, s in metric_stats(task, samples).items()}


def summarize(task: str | Task, samples: Sequence[dict[str, Any]], *, n_resamples: int = 1000, seed: int = 0,
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
    if task_suite(task) == "templates" and len(groups) > 1:
        out["by_group"] = {g: _values(task, [s for s in samples if s.get("group") == g]) for g in groups}
    return out
