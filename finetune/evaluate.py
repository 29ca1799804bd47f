"""Scoring a student through the program on held-back examples: task score, format-failure rate, F1, time.

The same program object the run distils (same retriever, ``k``, excerpt settings) answers each example; a
format failure is an example whose final answer did not parse (counted as wrong), reported on its own.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import dspy

from logreasoner.evals import metrics as M
from logreasoner.finetune.data import example_id
from logreasoner.finetune.formatting import adapter_for, make_program
from logreasoner.tasks import get_task

__all__ = ["evaluate_program", "f1_scores"]


def f1_scores(task: Any, golds: list[str], preds: list[str | None]) -> dict[str, float]:
    """The label scores of the task's metric suite (:mod:`logreasoner.evals.metrics`, the evals' own): precision,
    recall and F1 of the positive label for a ``binary`` task, macro-F1 for a ``labels`` task, none otherwise."""
    t = get_task(task)
    if t.suite == "binary":
        out = M.binary_prf(golds, preds, t.positive_label or "")
        return {k: round(out[k], 4) for k in ("precision", "recall", "f1")}
    if t.suite == "labels":
        return {"macro_f1": round(M.macro_f1(golds, preds), 4)}
    return {}


def evaluate_program(examples: list[Any], *, planner_lm: Any, step_lm: Any | None = None, program_cfg: Any = None,
                     progress: Any = None, checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Run the program on ``examples`` with the given LMs (a second LM for the step stage keeps llama.cpp's
    prompt cache warm per stage); per task: score, format failures, F1, seconds per example.

    With ``checkpoint`` (a JSONL path) every scored example is appended as it finishes and examples already in
    the file are not run again, so an interrupted evaluation resumes where it stopped."""
    step_lm = step_lm or planner_lm
    programs: dict[str, Any] = {}
    done: dict[str, dict] = {}
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.is_file():
        for line in ckpt.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill: run that example again
                continue
            done[row["id"]] = row
    if ckpt is not None:
        ckpt.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for ex in examples:
        if example_id(ex) in done:
            rows.append(done[example_id(ex)])
            if progress:
                progress.update(1)
            continue
        task = get_task(ex.get("task") or "anomaly")
        program = programs.setdefault(task.name, make_program(task, program_cfg, planner_lm=planner_lm,
                                                              step_lm=step_lm))
        t0 = time.perf_counter()
        with dspy.context(lm=step_lm, adapter=adapter_for(program_cfg)):
            pred = program(log=ex.get("log"), question=ex.get("question"), labels=ex.get("labels"))
        dt = time.perf_counter() - t0
        gold = ex.get("answer")
        value = task.primary(pred.answer) if pred.answer is not None else None
        rows.append({"id": example_id(ex), "task": task.name, "gold": gold, "pred": value,
                     "score": task.score(gold, pred.answer) if pred.answer is not None else 0.0,
                     "format_failure": pred.answer is None,
                     "plan_failure": bool(getattr(pred, "plan_format_error", None)),
                     "degenerate": list(pred.get("degenerate") or []),
                     "seconds": round(dt, 2)})
        if ckpt is not None:
            with ckpt.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(rows[-1]) + "\n")
        if progress:
            progress.update(1)
    per_task: dict[str, Any] = {}
    for name in sorted({r["task"] for r in rows}):
        rs = [r for r in rows if r["task"] == name]
        n = len(rs)
        golds = [str(r["gold"]) for r in rs]
        preds = [None if r["pred"] is None else str(r["pred"]) for r in rs]
        summary = {
            "n": n,
            "score": round(sum(r["score"] for r in rs) / n, 4),
            "format_failure_rate": round(sum(r["format_failure"] for r in rs) / n, 4),
            "plan_failure_rate": round(sum(r["plan_failure"] for r in rs) / n, 4),
            "degenerate_rate": round(sum(bool(r.get("degenerate")) for r in rs) / n, 4),
            "seconds_per_example": round(sum(r["seconds"] for r in rs) / n, 2),
            "predictions": dict(Counter(p or "(none)" for p in preds).most_common(8)),
        }
        summary.update(f1_scores(name, golds, preds))
        per_task[name] = summary
    return {"per_task": per_task, "rows": rows}
