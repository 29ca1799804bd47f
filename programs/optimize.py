"""Compile programs with DSPy's optimizers (BootstrapFewShot, MIPROv2, GEPA), save them, load them again.

A compiled program is the program's state (demos, instructions) in a ``.json`` file plus a ``.meta.json``
sidecar naming its kind and task, so the CLI (``--program compiled.json``), the evals and the agents can
rebuild and load it.
"""

from __future__ import annotations

from typing import Any, Callable

import dspy

from logreasoner.errors import ConfigError
from logreasoner.programs.compiled import load_compiled, save_program
from logreasoner.tasks import Task, get_task

__all__ = ["task_metric", "compile_program", "save_program", "load_compiled", "OPTIMIZERS"]

# saving and loading live in programs.compiled; they stay importable from here

OPTIMIZERS = ("bootstrap", "mipro", "gepa")


def task_metric(task: str | Task) -> Callable[..., float]:
    """A DSPy metric from a task: the task's score of the gold ``answer`` vs the prediction (0 when unparsed)."""
    t = get_task(task)

    def metric(example: Any, pred: Any, trace: Any = None, *args: Any, **kwargs: Any) -> float:
        answer = getattr(pred, "answer", None)
        return 0.0 if answer is None else float(t.score(example.answer, answer))

    metric.__name__ = f"{t.name}_metric"
    return metric


def compile_program(
    program: dspy.Module,
    trainset: list[dspy.Example],
    *,
    optimizer: str = "bootstrap",
    metric: Callable[..., float] | None = None,
    valset: list[dspy.Example] | None = None,
    reflection_lm: Any = None,
    **kwargs: Any,
) -> dspy.Module:
    """Compile ``program`` on ``trainset`` with a DSPy optimizer; the LM comes from ``dspy.context``."""
    if not trainset:
        raise ConfigError("the training set is empty", "pass at least a few labelled examples")
    metric = metric or task_metric(program.task)
    if optimizer == "bootstrap":
        opt = dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=kwargs.pop("max_bootstrapped_demos", 2),
                                    max_labeled_demos=kwargs.pop("max_labeled_demos", 2), **kwargs)
        return opt.compile(program, trainset=trainset)
    if optimizer == "mipro":
        opt = dspy.MIPROv2(metric=metric, auto=kwargs.pop("auto", "light"), **kwargs)
        return opt.compile(program, trainset=trainset, valset=valset)
    if optimizer == "gepa":
        if reflection_lm is None:
            raise ConfigError("GEPA needs a reflection model", "pass reflection_lm=load_lm('openai/...') (a strong model)")

        def gepa_metric(gold, pred, trace=None, pred_name=None, pred_trace=None):
            return metric(gold, pred, trace)

        opt = dspy.GEPA(metric=gepa_metric, reflection_lm=reflection_lm, auto=kwargs.pop("auto", "light"), **kwargs)
        return opt.compile(program, trainset=trainset, valset=valset)
    raise ConfigError(f"unknown optimizer {optimizer!r}", f"choose one of: {', '.join(OPTIMIZERS)}")
