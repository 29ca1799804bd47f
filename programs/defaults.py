"""The program factory by kind."""

from __future__ import annotations

from typing import Any

__all__ = ["build_program", "PROGRAM_KINDS"]

PROGRAM_KINDS = ("coarse_to_fine", "coarse_to_fine_noretrieval", "direct", "cot")


def build_program(kind: str = "coarse_to_fine", task: Any = "anomaly", **kwargs: Any) -> Any:
    """A program by kind: ``coarse_to_fine`` (LogReasoner), ``coarse_to_fine_noretrieval`` (ablation),
    ``direct`` (Predict) or ``cot`` (ChainOfThought). Extra keyword arguments go to the constructor."""
    from logreasoner.errors import UnknownTaskError
    from logreasoner.programs.modules import ChainOfThoughtAnswer, DirectAnswer, LogReasoner

    if kind in ("coarse_to_fine", "logreasoner", "c2f"):
        return LogReasoner(task, **kwargs)
    if kind in ("coarse_to_fine_noretrieval", "c2f_noretrieval"):
        return LogReasoner(task, retriever=None, **kwargs)
    if kind == "direct":
        return DirectAnswer(task, **kwargs)
    if kind in ("cot", "chain_of_thought"):
        return ChainOfThoughtAnswer(task, **kwargs)
    raise UnknownTaskError(f"unknown program kind {kind!r}", f"choose one of: {', '.join(PROGRAM_KINDS)}")
