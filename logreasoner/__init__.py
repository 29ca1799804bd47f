"""LogReasoner: coarse-to-fine log reasoning with language models.

Everything a user needs is importable from here; heavy parts load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "analyze": "logreasoner.analysis",
    "AnalysisResult": "logreasoner.analysis",
    "load_program": "logreasoner.analysis",
    "parse_log": "logreasoner.parsing",
    "parse_lines": "logreasoner.parsing",
    "BatchParser": "logreasoner.logs.batch_parse",
    "BatchParseSettings": "logreasoner.logs.batch_parse",
    "load_lm": "logreasoner.lm",
    "Task": "logreasoner.tasks",
    "get_task": "logreasoner.tasks",
    "list_tasks": "logreasoner.tasks",
    "register_task": "logreasoner.tasks",
    "LogReasoner": "logreasoner.programs",
    "CoarsePlanner": "logreasoner.programs",
    "StepReasoner": "logreasoner.programs",
    "DirectAnswer": "logreasoner.programs",
    "ChainOfThoughtAnswer": "logreasoner.programs",
    "build_program": "logreasoner.programs",
    "ExpertPlan": "logreasoner.programs",
    "Retriever": "logreasoner.programs",
    "ThoughtStore": "logreasoner.thoughts_db",
    "read_lines": "logreasoner.logs",
    "build_excerpt": "logreasoner.logs",
    "Settings": "logreasoner.settings",
    "LogReasonerError": "logreasoner.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'logreasoner' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
