"""The retriever contract the programs call, a small in-memory implementation, and the installed default.

``logreasoner.thoughts_db.ThoughtStore`` implements the same :class:`Retriever` protocol over SQLite; programs
only ever see :class:`ExpertPlan` objects. The default retriever is whatever the ``logreasoner.retrievers``
entry point named ``default`` returns (this distribution registers the shipped thought store there), so the
programs below the thought store never import it; when no entry point loads, the five built-in method plans
are used. :class:`DefaultRetriever` resolves it on the first query, so building a program opens no database.
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from collections import Counter
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

__all__ = [
    "ExpertPlan", "Retriever", "InMemoryRetriever", "DefaultRetriever", "default_retriever", "builtin_plans",
    "render_plans", "tokenize",
]


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


def builtin_plans() -> list[ExpertPlan]:
    """The five method plans (one per built-in task): used when the thought store cannot be opened."""
    mk = ExpertPlan
    return [
        mk(id="method-anomaly-detection", title="How an expert detects anomalies", task="anomaly",
           problem_overview="Decide whether log lines show abnormal behaviour against the normal background.",
           key_challenges=["normal lines vastly outnumber abnormal ones", "severity words can mislead",
                           "rare templates are suspicious but not always faulty"],
           reasoning_steps=["Group lines by template and note counts", "Look for fatal/error levels and failure words",
                            "Check rare templates and state changes", "Decide normal or abnormal and cite the lines"]),
        mk(id="method-fault-diagnosis", title="How an expert diagnoses a fault", task="diagnosis",
           problem_overview="Map the log's symptoms to one fault type of a given label set.",
           key_challenges=["labels share vocabulary", "one entry may mention several components"],
           reasoning_steps=["Find the component and the event the entry reports", "Extract the telltale keywords",
                            "Compare them with each label", "Pick the single best matching label"]),
        mk(id="method-root-cause-analysis", title="How an expert finds a root cause", task="rca",
           problem_overview="Trace the failure back from its symptom to the first cause, and fix it.",
           key_challenges=["symptoms appear far from their cause", "cascading errors hide the first one"],
           reasoning_steps=["Find the first error in time", "Follow what it caused", "Name the root cause",
                            "Recommend remediation steps"]),
        mk(id="method-log-parsing", title="How an expert derives a template", task="parse",
           problem_overview="Separate the constant text of a log line from its variable parts.",
           key_challenges=["ids and numbers embedded in words", "variable-length parameters"],
           reasoning_steps=["Split the line into tokens", "Mark numbers, ids, paths, addresses as variables",
                            "Keep constant words", "Write the template with <*> for variables"]),
        mk(id="method-log-interpretation", title="How an expert interprets a line", task="interpret",
           problem_overview="Explain what a log line says about the system and whether it matters.",
           key_challenges=["terse vendor wording", "context needed to judge severity"],
           reasoning_steps=["Identify the component and event", "Decode the fields and values",
                            "Judge severity and impact", "Explain it plainly"]),
    ]


RETRIEVER_ENTRY_POINTS = "logreasoner.retrievers"
_LOCK = threading.Lock()
_RESOLVED: list[Retriever] = []


def default_retriever() -> Retriever:
    """The installed default retriever, resolved once per process: the ``default`` entry point of the
    ``logreasoner.retrievers`` group (the shipped thought store), else the built-in method plans in memory."""
    with _LOCK:
        if not _RESOLVED:
            retriever: Retriever | None = None
            for ep in entry_points(group=RETRIEVER_ENTRY_POINTS, name="default"):
                try:
                    retriever = ep.load()()
                    break
                except ImportError as e:  # an extra that is not installed: fall back to the built-in plans
                    warnings.warn(f"default retriever {ep.value!r} did not load ({e}); using the built-in plans",
                                  stacklevel=2)
            _RESOLVED.append(retriever if retriever is not None else InMemoryRetriever(builtin_plans()))
        return _RESOLVED[0]


class DefaultRetriever:
    """A :class:`Retriever` that stands for :func:`default_retriever` and resolves it on first use.

    It is what a program retrieves with when none is given: constructing the program opens nothing.
    """

    def resolve(self) -> Retriever:
        return default_retriever()

    def retrieve(self, query: str, *, task: str | None = None, k: int = 3) -> list[ExpertPlan]:
        return self.resolve().retrieve(query, task=task, k=k)

    def __repr__(self) -> str:
        return "DefaultRetriever()"
