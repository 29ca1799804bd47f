"""Typed answers for the built-in tasks.

Each answer is a pydantic model; its *primary field* is the one a gold label is compared with. Free-text fields
carry ``json_schema_extra`` length caps that the constrained decoder uses (tiny models otherwise ramble until
``max_tokens``); validation itself does not truncate what a strong model writes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "AnomalyAnswer",
    "DiagnosisAnswer",
    "RCAAnswer",
    "ParseAnswer",
    "InterpretAnswer",
    "StepResult",
    "Plan",
    "EvidenceLine",
]


def _cap(n: int) -> dict:
    return {"maxLength": n}


class AnomalyAnswer(BaseModel):
    """Anomaly detection: is the excerpt normal or abnormal, and which lines show it."""

    verdict: Literal["normal", "abnormal"] = Field(description="'abnormal' if any line shows a fault, else 'normal'")
    evidence_lines: list[int] = Field(
        default_factory=list,
        description="line numbers (as shown in the excerpt) of the lines that show the anomaly; empty if normal",
        json_schema_extra={"maxItems": 8},
    )


class DiagnosisAnswer(BaseModel):
    """Fault diagnosis: one label from the label set the caller gives."""

    label: str = Field(description="exactly one label from the allowed label set", json_schema_extra=_cap(120))


class RCAAnswer(BaseModel):
    """Root-cause analysis: the cause and how to fix it."""

    cause: str = Field(description="the root cause in one or two sentences", json_schema_extra=_cap(400))
    remediation: list[str] = Field(
        default_factory=list,
        description="ordered remediation steps",
        json_schema_extra={"maxItems": 6, "items": {"type": "string", "maxLength": 200}},
    )


class ParseAnswer(BaseModel):
    """Log parsing: the line's template, variable parts replaced by <*>."""

    template: str = Field(description="the log template with every variable part replaced by <*>",
                          json_schema_extra=_cap(400))


class InterpretAnswer(BaseModel):
    """Log interpretation: what the lines mean, for an engineer."""

    explanation: str = Field(description="what the log says and why it matters", json_schema_extra=_cap(600))


class StepResult(BaseModel):
    """One plan step carried out on the concrete lines."""

    step: str = Field(description="the plan step being carried out", json_schema_extra=_cap(160))
    finding: str = Field(description="what the lines show for this step, with concrete values",
                         json_schema_extra=_cap(300))
    evidence_lines: list[int] = Field(default_factory=list, description="line numbers used as evidence",
                                      json_schema_extra={"maxItems": 6})


class Plan(BaseModel):
    """The coarse plan: high-level, reusable, no instance details."""

    problem_overview: str = ""
    key_challenges: list[str] = Field(default_factory=list)
    reasoning_steps: list[str] = Field(default_factory=list)

    def render(self) -> str:
        steps = "\n".join(f"{i}. {s}" for i, s in enumerate(self.reasoning_steps, 1))
        challenges = "\n".join(f"- {c}" for c in self.key_challenges)
        return f"Overview: {self.problem_overview}\nKey challenges:\n{challenges}\nSteps:\n{steps}".strip()


class EvidenceLine(BaseModel):
    """A real log line an answer cites."""

    source: str = Field(description="file (relative to its allowed folder) or '<text>'")
    line: int = Field(description="1-based line number in the source")
    text: str
