"""PNG plots of a run: primary score per dataset and program/model, and cost against score.

matplotlib is optional (extra ``plots``): without it the plots are skipped with a note, never an error.
The object-oriented API is used (``Figure`` + Agg canvas), so no global backend is changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_plots"]


def _label(c: dict[str, Any]) -> str:
    return c["program"] if c["model"] == "-" else f"{c['program']} @ {c['model']}"


def write_plots(results: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write ``scores.png`` and ``cost_vs_score.png`` into ``out``; returns the files and any note."""
    cells = [c for c in results.get("cells", []) if c.get("score") is not None]
    if not cells:
        return {"files": [], "note": None}
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return {"files": [], "note": "plots skipped: matplotlib is not installed (pip install 'logreasoner[plots]')"}
    out = Path(out)
    files = []
    datasets = list(dict.fromkeys(c["dataset"] for c in cells))
    series = list(dict.fromkeys(_label(c) for c in cells))
    by = {(c["dataset"], _label(c)): c for c in cells}

    fig = Figure(figsize=(max(6.0, 1.4 * len(datasets) + 2), 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(series))
    for j, s in enumerate(series):
        xs, ys, lo, hi = [], [], [], []
        for i, d in enumerate(datasets):
            c = by.get((d, s))
            if c is None:
                continue
            xs.append(i - 0.4 + width * (j + 0.5))
            ys.append(c["score"])
            ci = c.get("score_ci") or [c["score"], c["score"]]
            lo.append(max(0.0, c["score"] - ci[0]) if ci[0] == ci[0] else 0.0)
            hi.append(max(0.0, ci[1] - c["score"]) if ci[1] == ci[1] else 0.0)
        ax.bar(xs, ys, width=width, label=s, yerr=[lo, hi], capsize=2)
    metric = {c["dataset"]: c["primary_metric"] for c in cells}
    ax.set_xticks(range(len(datasets)))
    ax.set_xticklabels([f"{d}\n({metric[d]})" for d in datasets], fontsize=7, rotation=20, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("primary score (95% CI)")
    ax.set_title("Score per dataset and program @ model")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    p = out / "scores.png"
    fig.savefig(p)
    files.append(str(p))

    use_tokens = any(c.get("tokens_per_example", 0) > 0 for c in cells)
    fig = Figure(figsize=(7.5, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for s in series:
        pts = [c for c in cells if _label(c) == s]
        xs = [c["tokens_per_example"] if use_tokens else c["latency_s_mean"] for c in pts]
        ys = [c["score"] for c in pts]
        ax.scatter(xs, ys, label=s, s=28)
        for x, y, c in zip(xs, ys, pts):
            ax.annotate(c["dataset"], (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("tokens per example" if use_tokens else "seconds per example (no token counts recorded)")
    if use_tokens and all(c.get("tokens_per_example", 0) > 0 for c in cells):
        ax.set_xscale("log")
    ax.set_ylabel("primary score")
    ax.set_ylim(-0.02, 1.05)
    ax.set_title("Cost vs score")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    p = out / "cost_vs_score.png"
    fig.savefig(p)
    files.append(str(p))
    return {"files": files, "note": None}
