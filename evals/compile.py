"""Compile a program with a DSPy optimizer on a dataset's train split: the CLI's ``logreasoner eval compile``.

The examples come from the same loaders as the runner (a named dataset's seeded train split, or a user file), so
the compiled program is tuned on rows that ``eval run`` never scores on the test split. Labelled tasks get a
training set balanced over the gold answers (round robin), so a few examples still show every class.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["balanced", "compile_on_dataset"]


def balanced(examples: list[Any], limit: int | None) -> list[Any]:
    """At most ``limit`` examples, taking the gold answers in turn (order within an answer kept)."""
    if not limit or limit >= len(examples):
        return list(examples)
    by: dict[str, list[Any]] = defaultdict(list)
    for ex in examples:
        by[str(ex["answer"])].append(ex)
    if len(by) > limit or len(by) > len(examples) / 2:  # free text (rca, interpret): no classes to balance
        return list(examples[:limit])
    out: list[Any] = []
    queues = [list(v) for v in by.values()]
    while len(out) < limit and any(queues):
        for q in queues:
            if q and len(out) < limit:
                out.append(q.pop(0))
    return out


def compile_on_dataset(examples: list[Any], *, task: str, program: str, model: Any, optimizer: str, out: Path,
                       **optimizer_kwargs: Any) -> dict[str, Any]:
    """Compile ``program`` for ``task`` on ``examples`` with ``model`` and save it (plus its sidecar) at ``out``."""
    import dspy

    from logreasoner.programs import build_program
    from logreasoner.programs.optimize import compile_program, save_program

    if not examples:
        from logreasoner.errors import InputError

        raise InputError("no training examples", "check the dataset and --split / --limit")
    trainset = [dspy.Example(log=ex["log"], question=ex.get("question") or "", labels=ex.get("labels"),
                             answer=ex["answer"]).with_inputs("log", "question", "labels") for ex in examples]
    t0 = time.perf_counter()
    with dspy.context(lm=model):
        compiled = compile_program(build_program(program, task), trainset, optimizer=optimizer, **optimizer_kwargs)
    seconds = time.perf_counter() - t0
    save_program(compiled, out, kind=program)
    demos = {name: len(p.demos) for name, p in compiled.named_predictors()}
    return {"path": str(out), "task": task, "program": program, "optimizer": optimizer,
            "train_examples": len(trainset), "demos": demos, "seconds": round(seconds, 1)}
