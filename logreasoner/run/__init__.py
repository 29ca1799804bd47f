"""Running a program: name -> program (:func:`~logreasoner.programs.resolve_program`), lines -> excerpt sized
for the model (:func:`excerpt_for`), program + model + excerpt -> :class:`AnalysisResult` (:func:`run_program`).
The CLI's ``analyze``, the agent tools and the scale pipeline all go through here.

Only the result types load eagerly; the functions import DSPy on first use (the CLI starts without it).
"""

from __future__ import annotations

import importlib
from typing import Any

from logreasoner.run.result import AnalysisResult, EvidenceLine

__all__ = ["resolve_program", "run_program", "excerpt_for", "excerpt_stats", "AnalysisResult", "EvidenceLine"]

_LAZY = {"resolve_program": "logreasoner.programs.resolve", "run_program": "logreasoner.run.execute",
         "excerpt_for": "logreasoner.run.execute", "excerpt_stats": "logreasoner.run.execute"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'logreasoner.run' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
