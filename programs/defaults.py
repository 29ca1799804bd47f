"""Defaults: the retriever programs use when none is given, and the program factory by kind."""

from __future__ import annotations

import threading
from typing import Any

from logreasoner.programs.retrieval import ExpertPlan, InMemoryRetriever, Retriever

__all__ = ["default_retriever", "builtin_plans", "build_program", "PROGRAM_KINDS"]

_LOCK = threading.Lock()
_DEFAULT: list[Retriever] = []


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


def default_retriever() -> Retriever:
    """The shared thought store (shipped expert library) when it can be opened, else the built-in plans."""
    with _LOCK:
        if not _DEFAULT:
            retriever: Retriever
            try:
                from logreasoner.settings import get_settings
                from logreasoner.thoughts_db import ThoughtStore

                use = get_settings().embeddings
                retriever = ThoughtStore.default(embeddings=False if use is False else None)
            except ImportError:
                retriever = InMemoryRetriever(builtin_plans())
            _DEFAULT.append(retriever)
        return _DEFAULT[0]


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
