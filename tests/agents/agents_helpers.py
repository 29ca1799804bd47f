"""Helpers for the agents tests (imported by name: a unique module name, not conftest)."""

from __future__ import annotations

from typing import Any, Iterator

import dspy
from dspy.utils.dummies import DummyLM


def json_lm(answers: list[dict[str, Any]] | dict[str, dict[str, Any]]) -> DummyLM:
    """A DummyLM that answers in JSON (the adapter the tools try first), so every scripted answer parses."""
    return DummyLM(answers, adapter=dspy.JSONAdapter())


PLAN = {"problem_overview": "find the fault", "key_challenges": ["noise"], "reasoning_steps": ["scan", "decide"]}


class FakeClock:
    """Monotonic time that only moves when told to (each scripted model answer can cost seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ticking(answers: list[dict[str, Any]], clock: FakeClock, seconds: float) -> Iterator[dict[str, Any]]:
    for a in answers:
        clock.now += seconds
        yield a
