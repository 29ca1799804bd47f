"""A run's results: one summary per cell from the checkpoint's latest records, the run's metadata, and the files
written from them (``results.json``, written atomically, ``report.md`` and the PNG plots).

Results are always rebuilt from ``samples.jsonl``, so a resumed run's ``results.json`` covers every invocation;
``run.invocations`` lists each one (its start, wall time, examples run, whether it completed).
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from logreasoner.evals import scoring
from logreasoner.evals.checkpoint import SampleLog, to_jsonable
from logreasoner.evals.config import RunConfig
from logreasoner.evals.planning import Cell
from logreasoner.evals.usage import EMPTY_USAGE, add_usage

__all__ = ["versions", "environment", "cell_result", "build_results", "write_outputs"]


def versions() -> dict[str, str]:
    """Python, the platform and the versions of the packages a score depends on (recorded in results.json)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("logreasoner", "dspy", "drain3", "rouge-score", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def environment() -> dict[str, str]:
    """What changes the answers of an in-process model besides its weights file: how expert plans are retrieved
    (the shipped student was trained with hybrid retrieval; lexical alone hands it other plans) and the embedded
    weight format. Recorded in results.json and shown in the report, so two runs can be told apart."""
    from logreasoner.settings import get_settings
    from logreasoner.thoughts_db.embed import embeddings_available
    from logreasoner.thoughts_db.vectors import vectors_available

    settings = get_settings()
    if settings.embeddings is False:
        retrieval = "lexical (LOGREASONER_EMBEDDINGS=0)"
    elif embeddings_available() and vectors_available():
        retrieval = "hybrid"
    else:
        retrieval = "lexical (no embedder here: logreasoner models pull local)"
    return {"retrieval": retrieval, "embedded_weights": settings.embedded_weights or "as trained"}


def cell_result(cell: Cell, latest: dict[str, dict[str, Any]], n_resamples: int, seed: int) -> dict[str, Any]:
    """One cell's summary: its scores with intervals, counts, usage, latency and cache hits."""
    keys = [cell.key(ex.meta["id"]) for ex in cell.examples]
    recs = [latest[k] for k in keys if k in latest]
    summary = scoring.summarize(cell.task.name, recs, n_resamples=n_resamples, seed=seed)
    usage = dict(EMPTY_USAGE)
    for r in recs:
        usage = add_usage(usage, r.get("usage"))
    lat = [float(r.get("latency_s") or 0.0) for r in recs]
    cached = sum(1 for r in recs if (r.get("usage") or {}).get("cache_hits"))
    return {
        "program": cell.program.label,
        "model": cell.model_label,
        "dataset": cell.dataset.name,
        "task": cell.task.name,
        "split": cell.split,
        "planned": len(cell.examples),
        "done": len(recs),
        "complete": len(recs) == len(cell.examples),
        **summary,
        "usage": usage,
        "tokens_per_example": usage["total_tokens"] / len(recs) if recs else 0.0,
        "latency_s_mean": sum(lat) / len(lat) if lat else 0.0,
        "time_s": round(sum(lat), 3),
        "wall_s_this_invocation": round(cell.wall_s, 3),
        "cached_examples": cached,
        "notes": list(cell.dataset.notes),
    }


def build_results(config: RunConfig, cells: list[Cell], log: SampleLog, skipped: list, notes: list[str],
                  started: datetime, wall: float, complete: bool, out: Path, previous: dict[str, Any] | None
                  ) -> dict[str, Any]:
    """The whole ``results.json``: this invocation appended to ``previous``'s, and every cell's summary."""
    latest = log.latest()
    invocations = list((previous or {}).get("run", {}).get("invocations", []))
    invocations.append({"started": started.isoformat(timespec="seconds"), "wall_s": round(wall, 3),
                        "examples_run": sum(c.ran for c in cells), "complete": complete})
    cell_results = [cell_result(c, latest, config.bootstrap, config.seed) for c in cells]
    notes = list(notes) + _cache_notes(cell_results, config.cache)
    return {
        "run": {
            "id": out.name,
            "out": str(out),
            "complete": complete,
            "started": invocations[0]["started"],
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(sum(i["wall_s"] for i in invocations), 3),
            "invocations": invocations,
            "dspy_cache": _dspy_cache_dir() if config.cache else None,
        },
        "config": json.loads(config.model_dump_json()),
        "seed": config.seed,
        "versions": versions(),
        "environment": environment(),
        "cells": cell_results,
        "skipped": skipped,
        "totals": {
            "examples": sum(c["done"] for c in cell_results),
            "errors": sum(c["errors"] for c in cell_results),
            "format_failures": sum(c["format_failures"] for c in cell_results),
            "degenerate": sum(c.get("degenerate", 0) for c in cell_results),
            "usage": _sum_usage(cell_results),
        },
        "notes": list(dict.fromkeys(notes)),
    }


def write_outputs(out: Path, results: dict[str, Any], plots_on: bool) -> None:
    """Write the plots (when on; their files and any note go into ``results``), ``results.json`` and
    ``report.md`` into the run folder ``out``."""
    from logreasoner.evals.plots import write_plots
    from logreasoner.evals.report import render_report

    plots = write_plots(results, out) if plots_on else {"files": [], "note": None}
    results["plots"] = plots.get("files", [])
    if plots.get("note"):
        results["notes"].append(plots["note"])
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(to_jsonable(results), indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out / "results.json")
    (out / "report.md").write_text(render_report(results), encoding="utf-8")


def _dspy_cache_dir() -> str | None:
    """Where DSPy's answer cache lives (recorded in results.json: the answers a run may have reused)."""
    import dspy

    cache = getattr(dspy, "cache", None)
    return getattr(cache, "disk_cache_dir", None) if getattr(cache, "enable_disk_cache", False) else None


def _cache_notes(cells: list[dict[str, Any]], cache_on: bool) -> list[str]:
    """One note per cell whose examples were answered (in part) from DSPy's cache: their scores are the model's,
    but their latency, tokens and cost were not measured by this run."""
    if not cache_on:
        return []
    return [f"{_cell_label(c)} on {c['dataset']}: {c['cached_examples']} of {c['done']} examples answered (in part) "
            "from DSPy's cache (an earlier call with the same model name — for in-process models the same weights — "
            "and prompt, in this run or another); their latency, tokens and cost are not measured here (pass "
            "--no-cache to measure them)"
            for c in cells if c.get("cached_examples")]


def _cell_label(c: dict[str, Any]) -> str:
    return c["program"] if c["model"] == "-" else f"{c['program']} @ {c['model']}"


def _sum_usage(cells: list[dict[str, Any]]) -> dict[str, Any]:
    total = dict(EMPTY_USAGE)
    for c in cells:
        total = add_usage(total, c["usage"])
    return total
