"""The shared contracts at the bottom layer: the typed answers, the plan and step shapes, expert plans and the
retriever protocol. Tasks, programs and the thought store all import these, and nothing above them, so each
layer imports only downward (the layers are checked by import-linter: ``[tool.importlinter]`` in pyproject)."""

from logreasoner.contracts.answers import (
    AnomalyAnswer,
    DiagnosisAnswer,
    EvidenceLine,
    InterpretAnswer,
    ParseAnswer,
    Plan,
    RCAAnswer,
    StepResult,
)
from logreasoner.contracts.retrieval import (
    DefaultRetriever,
    ExpertPlan,
    InMemoryRetriever,
    Retriever,
    builtin_plans,
    default_retriever,
    render_plans,
    tokenize,
)

__all__ = [
    "AnomalyAnswer", "DiagnosisAnswer", "RCAAnswer", "ParseAnswer", "InterpretAnswer", "Plan", "StepResult", "EvidenceLine",
    "ExpertPlan", "Retriever", "InMemoryRetriever", "DefaultRetriever", "default_retriever", "builtin_plans",
    "render_plans", "tokenize",
]
