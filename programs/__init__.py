"""DSPy programs for coarse-to-fine log reasoning: planner, step reasoner, LogReasoner, baselines."""

from logreasoner.contracts.answers import (
    AnomalyAnswer,
    DiagnosisAnswer,
    InterpretAnswer,
    ParseAnswer,
    Plan,
    RCAAnswer,
    StepResult,
)
from logreasoner.programs.compiled import load_compiled, save_program
from logreasoner.programs.kinds import PROGRAM_KINDS, build_program
from logreasoner.programs.resolve import resolve_program
from logreasoner.programs.modules import ChainOfThoughtAnswer, CoarsePlanner, DirectAnswer, LogReasoner, StepReasoner
from logreasoner.contracts.retrieval import (
    DefaultRetriever,
    ExpertPlan,
    InMemoryRetriever,
    Retriever,
    builtin_plans,
    default_retriever,
)

__all__ = [
    "LogReasoner", "CoarsePlanner", "StepReasoner", "DirectAnswer", "ChainOfThoughtAnswer",
    "build_program", "resolve_program", "load_compiled", "save_program", "PROGRAM_KINDS", "default_retriever", "builtin_plans",
    "ExpertPlan", "Retriever", "InMemoryRetriever", "DefaultRetriever",
    "AnomalyAnswer", "DiagnosisAnswer", "RCAAnswer", "ParseAnswer", "InterpretAnswer", "Plan", "StepResult",
]
