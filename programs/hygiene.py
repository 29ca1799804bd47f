"""Output hygiene after decoding: what a grammar cannot forbid is cleaned here, and counted.

A small model under a grammar always parses, but it can repeat a list item, echo a prompt marker (``BEGIN LOG
DATA``) as a step, or cite a line it was not shown. Each is removed from what the user gets and recorded as a
*degenerate output* reason, a metric of its own beside format failures (the evals count it per example).
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from pydantic import BaseModel

from logreasoner.contracts.answers import Plan, StepResult

__all__ = ["DEGENERATE_REASONS", "echoes_marker", "dedupe", "clean_plan", "clean_steps", "clean_answer",
           "clean_outputs"]

DEGENERATE_REASONS = ("repeated_items", "marker_echo", "invented_lines")
_MARKER = re.compile(r"\b(BEGIN|END)\b[^\n]{0,24}?\bLOG\W*DATA|\[\[\s*#+|<\|im_(start|end)\|>|^\s*(assistant|user|system)\s*:",
                     re.IGNORECASE)


def echoes_marker(text: Any) -> bool:
    """True when a model string repeats a prompt marker (log fences, DSPy field markers, chat roles)."""
    return bool(_MARKER.search(str(text or "")))


def _key(text: Any) -> str:
    return re.sub(r"[\W_]+", " ", str(text or "")).strip().lower()


def dedupe(items: Iterable[Any], key: Any = _key) -> tuple[list[Any], bool]:
    """Items without repeats (first kept; compared case- and punctuation-insensitively); True if any repeated."""
    items = list(items)
    seen: set = set()
    out = []
    for item in items:
        k = key(item)
        if k in seen:
            continue
        seen.add(k)
        out.append(item)
    return out, len(out) != len(items)


def clean_plan(plan: Plan, reasons: set[str]) -> Plan:
    """The plan without repeated or marker-echoing items (reasons added to ``reasons``)."""
    lists = {}
    for name in ("key_challenges", "reasoning_steps"):
        items = [x for x in getattr(plan, name) if str(x).strip()]
        kept = [x for x in items if not echoes_marker(x)]
        if len(kept) != len(items):
            reasons.add("marker_echo")
        kept, repeated = dedupe(kept)
        if repeated:
            reasons.add("repeated_items")
        lists[name] = kept
    overview = plan.problem_overview
    if echoes_marker(overview):
        reasons.add("marker_echo")
        overview = _MARKER.split(overview)[0].strip()
    return Plan(problem_overview=overview, **lists)


def clean_steps(steps: list[StepResult], shown: set[int] | None, reasons: set[str]) -> list[StepResult]:
    """Steps without marker echoes and repeats; evidence limited to ``shown`` lines (None: not checked)."""
    out = []
    for s in steps:
        if echoes_marker(s.step) or echoes_marker(s.finding):
            reasons.add("marker_echo")
            continue
        lines, repeated = dedupe(s.evidence_lines, key=lambda n: n)
        if shown is not None and any(n not in shown for n in lines):
            reasons.add("invented_lines")
            lines = [n for n in lines if n in shown]
        out.append(s.model_copy(update={"evidence_lines": lines}))
    kept, repeated = dedupe(out, key=lambda s: (_key(s.step), _key(s.finding)))
    if repeated:
        reasons.add("repeated_items")
    return kept


def clean_answer(answer: Any, shown: set[int] | None, reasons: set[str]) -> Any:
    """The typed answer with its evidence lines limited to ``shown`` and its string lists without repeats."""
    if not isinstance(answer, BaseModel):
        return answer
    update: dict[str, Any] = {}
    for name, value in answer:
        if isinstance(value, list) and value and all(isinstance(v, int) for v in value) and name.endswith("lines"):
            lines, _ = dedupe(value, key=lambda n: n)
            if shown is not None and any(n not in shown for n in lines):
                reasons.add("invented_lines")
                lines = [n for n in lines if n in shown]
            if lines != value:
                update[name] = lines
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            kept = [v for v in value if not echoes_marker(v)]
            if len(kept) != len(value):
                reasons.add("marker_echo")
            kept, repeated = dedupe(kept)
            if repeated:
                reasons.add("repeated_items")
            if kept != value:
                update[name] = kept
        elif isinstance(value, str) and echoes_marker(value):
            reasons.add("marker_echo")
    return answer.model_copy(update=update) if update else answer


def clean_outputs(*, plan: Plan | None = None, steps: list[StepResult] | None = None, answer: Any = None,
                  shown: Iterable[int] | None = None) -> tuple[Plan | None, list[StepResult], Any, list[str]]:
    """Clean a program's outputs; returns them with the sorted degenerate reasons found."""
    reasons: set[str] = set()
    shown_set = set(shown) if shown is not None else None
    plan = clean_plan(plan, reasons) if plan is not None else None
    steps = clean_steps(list(steps or []), shown_set, reasons)
    answer = clean_answer(answer, shown_set, reasons)
    return plan, steps, answer, sorted(reasons)
