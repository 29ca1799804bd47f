"""Markdown reports: one run's ``report.md``, and a side-by-side comparison of several runs.

Every score is printed with its 95% bootstrap interval and its n. A score is marked ``†`` (too small to
compare) when n < :data:`MIN_N_TO_COMPARE` (20) or its interval is wider than :data:`MAX_CI_WIDTH_TO_COMPARE`
(0.5, half the range of every metric here, which all lie in [0, 1]): two such scores may differ by chance
alone. The width rule catches what n alone hides, e.g. F1 on the abnormal class of 20 lines holding one alert.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from logreasoner.errors import InputError
from logreasoner.evals.scoring import LOWER_IS_BETTER

__all__ = ["render_report", "score_table", "metrics_table", "load_results", "compare_runs", "fmt_score",
           "too_small_to_compare", "MIN_N_TO_COMPARE", "MAX_CI_WIDTH_TO_COMPARE", "SMALL_MARK"]

MIN_N_TO_COMPARE = 20
MAX_CI_WIDTH_TO_COMPARE = 0.5
SMALL_MARK = "†"


def _f(x: Any, nd: int = 3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _n(cell: dict[str, Any]) -> int:
    return int(cell.get("n", cell.get("done", 0)) or 0)


def _ci(cell: dict[str, Any]) -> tuple[float, float] | None:
    ci = cell.get("score_ci")
    if ci and None not in ci and ci[0] == ci[0] and ci[1] == ci[1]:  # not NaN
        return float(ci[0]), float(ci[1])
    return None


def too_small_to_compare(cell: dict[str, Any]) -> str | None:
    """Why a cell's score cannot be compared with another's (None when it can): n under
    :data:`MIN_N_TO_COMPARE`, or a 95% interval wider than :data:`MAX_CI_WIDTH_TO_COMPARE`."""
    n = _n(cell)
    if n < MIN_N_TO_COMPARE:
        return f"n = {n} < {MIN_N_TO_COMPARE}"
    ci = _ci(cell)
    if ci is not None and ci[1] - ci[0] > MAX_CI_WIDTH_TO_COMPARE:
        return f"95% interval {ci[1] - ci[0]:.2f} wide > {MAX_CI_WIDTH_TO_COMPARE}"
    return None


def fmt_score(cell: dict[str, Any]) -> str:
    """``0.812 [0.740, 0.870] n=20`` (``†`` when too small to compare) plus the failure share when there is one."""
    s = cell.get("score")
    if s is None:
        return "—"
    text = _f(s)
    ci = _ci(cell)
    if ci is not None:
        text += f" [{_f(ci[0])}, {_f(ci[1])}]"
    text += f" n={_n(cell)}"
    if too_small_to_compare(cell):
        text += f" {SMALL_MARK}"
    fails = []
    if cell.get("format_failures"):
        fails.append(f"fmt-fail {cell['format_failure_rate']:.0%}")
    if cell.get("degenerate"):
        fails.append(f"degenerate {cell['degenerate_rate']:.0%}")
    if cell.get("errors"):
        fails.append(f"err {cell['error_rate']:.0%}")
    if not cell.get("complete", True):
        fails.append(f"{cell.get('done', 0)}/{cell.get('planned', 0)} done")
    return text + (" · " + ", ".join(fails) if fails else "")


def _column(cell: dict[str, Any], run_label: str | None = None) -> str:
    col = cell["program"] if cell["model"] == "-" else f"{cell['program']} @ {cell['model']}"
    return f"{run_label}: {col}" if run_label else col


def score_table(cells: Iterable[tuple[str | None, dict[str, Any]]]) -> str:
    """Datasets down, program @ model across; each entry the primary score, its interval, its n and failures
    (``planned``: the examples each cell of the row was to run)."""
    cells = list(cells)
    if not cells:
        return "_no results_\n"
    cols = list(dict.fromkeys(_column(c, r) for r, c in cells))
    rows: dict[str, dict[str, str]] = {}
    meta: dict[str, str] = {}
    for r, c in cells:
        rows.setdefault(c["dataset"], {})[_column(c, r)] = fmt_score(c)
        arrow = " (↓)" if c["primary_metric"] in LOWER_IS_BETTER else ""
        meta[c["dataset"]] = f"{c['task']} | {c['primary_metric']}{arrow} | {c['planned']}"
    head = "| dataset | task | metric | planned | " + " | ".join(cols) + " |\n"
    head += "|---|---|---|---|" + "---|" * len(cols) + "\n"
    body = "".join(f"| {d} | {meta[d]} | " + " | ".join(rows[d].get(c, "n/a") for c in cols) + " |\n" for d in rows)
    if any(c.get("score") is not None and too_small_to_compare(c) for _, c in cells):
        body += (f"\n{SMALL_MARK} too small to compare: n < {MIN_N_TO_COMPARE} or a 95% interval wider than "
                 f"{MAX_CI_WIDTH_TO_COMPARE}; such a score may differ from its neighbours by chance alone.\n")
    return head + body


def metrics_table(cells: Iterable[tuple[str | None, dict[str, Any]]]) -> str:
    """Every metric of every cell, with failures, tokens and latency."""
    lines = ["| program | model | dataset | n | metrics | parsed only | fmt-fail | degenerate | errors | tokens/ex | "
             "LM calls | cache hits | s/ex |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r, c in cells:
        m = ", ".join(f"{k} {_f(v)}" for k, v in c.get("metrics", {}).items())
        p = ", ".join(f"{k} {_f(v)}" for k, v in c.get("parsed_only", {}).items())
        u = c.get("usage", {})
        prog = f"{r}: {c['program']}" if r else c["program"]
        lines.append(f"| {prog} | {c['model']} | {c['dataset']} | {c['done']}/{c['planned']} | {m or '-'} | "
                     f"{p or '-'} | {c['format_failures']} ({c['format_failure_rate']:.0%}) | "
                     f"{c.get('degenerate', 0)} ({c.get('degenerate_rate', 0.0):.0%}) | {c['errors']} | "
                     f"{c.get('tokens_per_example', 0):.0f} | {u.get('lm_calls', 0)} | {u.get('cache_hits', 0)} | "
                     f"{c.get('latency_s_mean', 0):.2f} |")
    return "\n".join(lines) + "\n"


def _by_group(cells: list[dict[str, Any]]) -> str:
    out = []
    for c in cells:
        groups = c.get("by_group")
        if not groups:
            continue
        out.append(f"\n**{_column(c)} on {c['dataset']}** (grouping accuracy / parsing accuracy / edit distance)\n")
        out.append("| group | GA | PA | ED |\n|---|---|---|---|")
        for g, m in groups.items():
            out.append(f"| {g} | {_f(m.get('grouping_accuracy'))} | {_f(m.get('parsing_accuracy'))} | "
                       f"{_f(m.get('edit_distance'))} |")
    return "\n".join(out) + ("\n" if out else "")


def render_report(results: dict[str, Any]) -> str:
    run, v, env = results["run"], results.get("versions", {}), results.get("environment", {})
    cells = results.get("cells", [])
    tot = results.get("totals", {})
    u = tot.get("usage", {})
    parts = [
        f"# Eval run `{run['id']}`\n",
        f"- status: {'complete' if run.get('complete') else 'INCOMPLETE (resume with --resume)'}; "
        f"wall time {run.get('wall_time_s', 0):.1f} s over {len(run.get('invocations', []))} invocation(s)",
        f"- seed {results.get('seed')}; splits: {', '.join(sorted({c['split'] for c in cells})) or '-'}",
        f"- versions: logreasoner {v.get('logreasoner')}, dspy {v.get('dspy')}, python {v.get('python')}, "
        f"drain3 {v.get('drain3')}",
        f"- retrieval of expert plans: {env.get('retrieval', 'not recorded')}; embedded weights: "
        f"{env.get('embedded_weights', 'not recorded')}",
        f"- {tot.get('examples', 0)} examples scored; {tot.get('format_failures', 0)} format failures, "
        f"{tot.get('errors', 0)} errors; {u.get('lm_calls', 0)} LM calls, {u.get('total_tokens', 0)} tokens, "
        f"{u.get('cache_hits', 0)} cache hits, cost ${u.get('cost', 0.0):.4f}",
        "",
        "## Primary score per dataset (95% bootstrap interval and n; failures counted as wrong and shown beside)\n",
        score_table((None, c) for c in cells),
        "## All metrics\n",
        metrics_table((None, c) for c in cells),
    ]
    groups = _by_group(cells)
    if groups:
        parts += ["## Parsing by system", groups]
    if results.get("plots"):
        parts += ["## Plots\n", "\n".join(f"![{Path(p).stem}]({Path(p).name})" for p in results["plots"]), ""]
    notes = list(results.get("notes", []))
    notes += sorted({n for c in cells for n in c.get("notes", [])})
    notes += [f"skipped {s['program']} on {s['dataset']}: {s['reason']}" for s in results.get("skipped", [])]
    if notes:
        parts += ["## Notes\n", "\n".join(f"- {n}" for n in notes), ""]
    return "\n".join(parts) + "\n"


def load_results(run: str | Path) -> dict[str, Any]:
    p = Path(run)
    path = p / "results.json" if p.is_dir() else p
    if not path.is_file():
        raise InputError(f"no results.json in {run}", "pass a run folder written by `logreasoner eval run`")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON ({e.msg})", "re-run or resume the eval to rewrite it") from None


def compare_runs(runs: list[str | Path]) -> str:
    """One table over several runs (columns labelled by run id when more than one run is given)."""
    if not runs:
        raise InputError("no run folders given", "pass one or more run folders")
    loaded = [load_results(r) for r in runs]
    labels = [res["run"]["id"] for res in loaded]
    if len(set(labels)) < len(labels):
        labels = [str(r) for r in runs]
    multi = len(loaded) > 1
    pairs = [(lab if multi else None, c) for lab, res in zip(labels, loaded) for c in res.get("cells", [])]
    head = "# Eval comparison\n\n" + "".join(
        f"- `{lab}`: {res['run'].get('out')} ({'complete' if res['run'].get('complete') else 'incomplete'}, "
        f"dspy {res.get('versions', {}).get('dspy')}, seed {res.get('seed')})\n" for lab, res in zip(labels, loaded))
    return head + "\n" + score_table(pairs) + "\n" + metrics_table(pairs)
