"""The retriever interface the programs call, and a small in-memory implementation.

``logreasoner.thoughts_db.ThoughtStore`` implements the same :class:`Retriever` protocol over SQLite; programs
only ever see :class:`ExpertPlan` objects.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

__all__ = ["ExpertPlan", "Retriever", "InMemoryRetriever", "render_plans", "tokenize"]


class ExpertPlan(BaseModel):
    """A high-level thought template: how an expert approaches a kind of problem (no instance details)."""

    id: str
    title: str = ""
    task: str | None = None
    tags: list[str] = Field(default_factory=list)
    problem_overview: str = ""
    key_challenges: list[str] = Field(default_factory=list)
    reasoning_steps: list[str] = Field(default_factory=list)
    source: str | None = Field(None, description="flowchart id (or other origin) this plan was drawn from")
    score: float = 0.0

    def render(self) -> str:
        steps = "\n".join(f"  {i}. {s}" for i, s in enumerate(self.reasoning_steps, 1))
        ch = "; ".join(self.key_challenges)
        return f"[{self.title or self.id}] {self.problem_overview}\n  Challenges: {ch}\n  Steps:\n{steps}"


@runtime_checkable
class Retriever(Protocol):
    """Anything that returns expert plans for a task and a log excerpt."""

    def retrieve(self, query: str, *, task: str | None = None, k: int = 3) -> list[ExpertPlan]: ...


def tokenize(text: str) -> list[str]:
    return [t for t in re.findall(r"[a-z][a-z0-9_]+", text.lower()) if len(t) > 2]


def render_plans(plans: list[ExpertPlan]) -> str:
    if not plans:
        return "(no expert plan retrieved)"
    return "\n\n".join(p.render() for p in plans)


class InMemoryRetriever:
    """BM25 over a list of plans held in memory; plans of the asked task (or task-less ones) only."""

    def __init__(self, plans: list[ExpertPlan]) -> None:
        self.plans = list(plans)
        self._docs = [Counter(tokenize(self._text(p))) for p in self.plans]
        self._avgdl = sum(sum(d.values()) for d in self._docs) / max(1, len(self._docs))
        df: Counter[str] = Counter()
        for d in self._docs:
            df.update(d.keys())
        n = max(1, len(self._docs))
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

    @staticmethod
    def _text(p: ExpertPlan) -> str:
        return " ".join([p.title, " ".join(p.tags), p.problem_overview, " ".join(p.key_challenges),
                         " ".join(p.reasoning_steps)])

    def retrieve(self, query: str, *, task: str | None = None, k: int = 3) -> list[ExpertPlan]:
        q = tokenize(query)
        scored = []
        for plan, doc in zip(self.plans, self._docs):
            if task and plan.task and plan.task != task:
                continue
            dl = sum(doc.values()) or 1
            s = 0.0
            for t in q:
                f = doc.get(t, 0)
                if f:
                    s += self._idf.get(t, 0.0) * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * dl / self._avgdl))
            scored.append((s, plan))
        scored.sort(key=lambda x: -x[0])
        return [p.model_copy(update={"score": s}) for s, p in scored[:k]]
