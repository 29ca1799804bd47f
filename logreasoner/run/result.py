"""What running a program on a log returns: :class:`AnalysisResult` (``logreasoner analyze --json`` prints it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, PrivateAttr

from logreasoner.contracts.answers import EvidenceLine

__all__ = ["AnalysisResult", "EvidenceLine"]


class AnalysisResult(BaseModel):
    """A program's typed answer with its trace: plan, steps, evidence lines, hygiene, input figures, time."""

    task: str
    model: str
    program: str
    answer: dict | None = Field(description="the task's typed answer (validates against its answer model)")
    plan: dict | None = None
    steps: list[dict] = Field(default_factory=list)
    evidence: list[EvidenceLine] = Field(default_factory=list)
    expert_plans: list[str] = Field(default_factory=list)
    format_error: str | None = None
    raw: str | None = None
    invented_lines: list[int] = Field(default_factory=list)
    degenerate: list[str] = Field(default_factory=list, description="what output hygiene removed: repeated_items, "
                                  "marker_echo, invented_lines")
    input_stats: dict = Field(default_factory=dict)
    seconds: float = 0.0
    _prediction: Any = PrivateAttr(default=None)

    @property
    def prediction(self) -> Any:
        """The program's ``dspy.Prediction`` this result was made from (None for a result read back from JSON):
        the typed answer, ``plan``, ``steps`` and the retrieved ``expert_plans`` as objects."""
        return self._prediction

    @classmethod
    def from_prediction(cls, pred: Any, *, task: str, model: str, program: str, input_stats: dict | None = None,
                        seconds: float = 0.0) -> "AnalysisResult":
        """The result of one program call (a ``dspy.Prediction`` of any program kind)."""
        answer = pred.answer
        plan = getattr(pred, "plan", None)
        result = cls(
            task=task, model=model, program=program,
            answer=answer.model_dump(mode="json") if answer is not None else None,
            plan=plan.model_dump() if plan is not None else None,
            steps=[s.model_dump() for s in (getattr(pred, "steps", None) or [])],
            evidence=[EvidenceLine(source=ln.source, line=ln.number, text=ln.text)
                      for ln in (getattr(pred, "evidence", None) or [])],
            expert_plans=[p.id for p in (getattr(pred, "expert_plans", None) or [])],
            format_error=getattr(pred, "format_error", None),
            raw=getattr(pred, "raw", None),
            invented_lines=list(getattr(pred, "invented_lines", None) or []),
            degenerate=list(getattr(pred, "degenerate", None) or []),
            input_stats=dict(input_stats or {}),
            seconds=round(seconds, 3),
        )
        result._prediction = pred
        return result
