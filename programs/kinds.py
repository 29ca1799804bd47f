"""The program kinds, their aliases, and the factory that builds a program of a kind for a task."""

from __future__ import annotations

from typing import Any

__all__ = ["build_program", "program_kind", "PROGRAM_KINDS", "PROGRAM_ALIASES", "RETRIEVING_KINDS"]

PROGRAM_KINDS = ("coarse_to_fine", "coarse_to_fine_noretrieval", "direct", "cot")
PROGRAM_ALIASES = {"logreasoner": "coarse_to_fine", "c2f": "coarse_to_fine",
                   "c2f_noretrieval": "coarse_to_fine_noretrieval", "chain_of_thought": "cot"}
RETRIEVING_KINDS = ("coarse_to_fine",)  # the kinds that take a retriever


def program_kind(name: str) -> str | None:
    """The canonical kind of a program name or alias (None when it names no built-in kind)."""
    name = PROGRAM_ALIASES.get(name, name)
    return name if name in PROGRAM_KINDS else None


def build_program(kind: str = "coarse_to_fine", task: Any = "anomaly", **kwargs: Any) -> Any:
    """A program by kind: ``coarse_to_fine`` (LogReasoner), ``coarse_to_fine_noretrieval`` (ablation),
    ``direct`` (Predict) or ``cot`` (ChainOfThought). Extra keyword arguments go to the constructor."""
    from logreasoner.errors import UnknownTaskError
    from logreasoner.programs.modules import ChainOfThoughtAnswer, DirectAnswer, LogReasoner

    canonical = program_kind(kind)
    if canonical == "coarse_to_fine":
        return LogReasoner(task, **kwargs)
    if canonical == "coarse_to_fine_noretrieval":
        return LogReasoner(task, retriever=None, **kwargs)
    if canonical == "direct":
        return DirectAnswer(task, **kwargs)
    if canonical == "cot":
        return ChainOfThoughtAnswer(task, **kwargs)
    raise UnknownTaskError(f"unknown program kind {kind!r}", f"choose one of: {', '.join(PROGRAM_KINDS)}")
