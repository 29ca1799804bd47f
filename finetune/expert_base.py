"""What every programmatic expert shares: the base class that follows a method flowchart, the solution it
writes, the method plans it follows, and :func:`get_expert`, which asks the task for its expert.

A task names its expert (``Task.expert = "module:Class"``): the built-in experts are in
:mod:`logreasoner.finetune.experts` (anomaly, diagnosis) and :mod:`logreasoner.finetune.experts_text` (parse,
rca, interpret); a plugin task names its own.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any

from logreasoner.contracts.answers import Plan, StepResult
from logreasoner.contracts.retrieval import ExpertPlan
from logreasoner.errors import ConfigError, UnknownTaskError
from logreasoner.logs.excerpt import LogExcerpt
from logreasoner.programs.plan_text import clip, compact_plan, step_name

__all__ = ["Expert", "ExpertSolution", "get_expert", "method_plans", "message_of", "line_facts"]

_clip = clip
_LEVEL = re.compile(r"\b(FATAL|ERROR|SEVERE|WARN(?:ING)?|INFO|DEBUG|TRACE|CRIT(?:ICAL)?|NOTICE|ALERT|EMERG)\b[:\s]*")


def message_of(text: str, n: int = 48) -> str:
    """The message part of a log line (what follows its last level word), clipped: what a finding quotes."""
    last = None
    for m in _LEVEL.finditer(text):
        last = m
    msg = text[last.end():] if last is not None and last.end() < len(text) - 3 else text
    return clip(msg.replace("'", ""), n)


def method_plans(task: Any, retriever: Any = None) -> list[ExpertPlan]:
    """The thought templates of the task's method flowchart (every path) when the program retrieves from a
    thought store (or retrieves nothing and the shared store opens), else the task's built-in method plan."""
    from logreasoner.contracts.retrieval import builtin_plans
    from logreasoner.programs.plan_choices import method_templates

    store = retriever
    if retriever is None:  # no retrieval in the program: the shared store, if it opens
        try:
            from logreasoner.thoughts_db import ThoughtStore

            store = ThoughtStore.default(embeddings=False)
        except Exception:  # no store here (not installed, unreadable cache): the built-in plan still works
            store = None
    try:
        plans = method_templates(task, store)
    except Exception:
        plans = []
    fid = getattr(task, "method_flowchart", None)
    return plans or [p for p in builtin_plans() if p.id == fid or p.task == getattr(task, "name", None)]


@dataclass
class ExpertSolution:
    plan: Plan
    steps: list[StepResult]
    answer: dict
    template_id: str | None = None
    facts: dict = field(default_factory=dict)


_DECISION = re.compile(r"^Decide:\s*(.*?)\s*->\s*(.+)$")


def _decisions(plan: ExpertPlan) -> list[tuple[str, str]]:
    out = []
    for s in plan.reasoning_steps:
        m = _DECISION.match(re.sub(r"\s+", " ", s).strip())
        if m:
            out.append((m.group(1), m.group(2).strip().lower()))
    return out


class Expert:
    """Base class: choose the flowchart path the labelled facts take, then write each step's finding."""

    name = "expert"
    task_name = ""

    def facts(self, excerpt: LogExcerpt, gold: Any, labels: list[str] | None, meta: dict) -> dict:
        raise NotImplementedError  # each expert reads its own facts

    def decide(self, question: str, facts: dict) -> str | None:
        """The branch the facts take at a decision (None: this expert cannot tell)."""
        raise NotImplementedError

    def finding(self, step: str, facts: dict) -> tuple[str, list[int]]:
        raise NotImplementedError

    def answer(self, facts: dict) -> dict:
        raise NotImplementedError

    def choose(self, plans: list[ExpertPlan], facts: dict) -> ExpertPlan:
        """The template whose every decision agrees with the facts (the shortest such path); else the first."""
        best, best_key = None, None
        for p in plans:
            dec = _decisions(p)
            if not dec:
                continue
            agree = all(self.decide(q, facts) in (None, a) for q, a in dec)
            if agree:
                key = (len(p.reasoning_steps), p.id)
                if best_key is None or key < best_key:
                    best, best_key = p, key
        return best or plans[0]

    def solve(self, excerpt: LogExcerpt, gold: Any, *, labels: list[str] | None = None, meta: dict | None = None,
              plans: list[ExpertPlan]) -> ExpertSolution:
        if not plans:
            raise ValueError(f"{self.name}: no method plan to follow")
        facts = self.facts(excerpt, gold, labels, meta or {})
        chosen = self.choose(plans, facts)
        plan = compact_plan(chosen)
        steps = []
        for s in plan.reasoning_steps:
            text, lines = self.finding(s, facts)
            steps.append(StepResult(step=step_name(s), finding=_clip(text, 80),
                                    evidence_lines=lines[:6]))
        return ExpertSolution(plan=plan, steps=steps, answer=self.answer(facts), template_id=chosen.id, facts=facts)


def line_facts(excerpt: LogExcerpt) -> list[tuple[int, str, int]]:
    return [(g.first.number, g.first.text, g.count) for g in excerpt.shown]


def get_expert(task: Any) -> Expert | None:
    """The programmatic expert the task names (``Task.expert``); None where it names none (use an LM teacher)."""
    from logreasoner.tasks import get_task

    try:
        t = get_task(task)
    except UnknownTaskError:
        return None
    spec = t.expert
    if spec is None:
        return None
    if callable(spec):
        return spec()
    module, _, attr = str(spec).partition(":")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"task '{t.name}': its expert {spec!r} does not load ({e})",
                          "set Task.expert to 'package.module:ExpertClass' (or a factory)") from None
    return factory()
