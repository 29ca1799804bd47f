"""The tool surface's inputs and outputs as pydantic models: one definition for MCP, DSPy and OpenAI.

Inputs are flat (strings, numbers, lists of strings) so every client can fill them; outputs are structured
(typed fields, not prose), so an agent can act on them without parsing text.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from logreasoner.contracts.answers import EvidenceLine, StepResult
from logreasoner.contracts.retrieval import ExpertPlan

__all__ = [
    "AnalyzeLogsInput", "AnalyzeLogsResult", "EvidenceLine", "InputSummary", "PlanSummary", "PlanRef",
    "RetrieveExpertPlanInput", "ExpertPlansResult",
    "ExplainLineInput", "ExplainLineResult",
    "ListTasksInput", "TaskInfo", "TaskListResult",
    "MAX_TEXT_CHARS",
]

MAX_TEXT_CHARS = 2_000_000  # hard ceiling on inline text; the server's ReadLimits may be lower



class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- analyze_logs -----------------------------------------------------------------------------------------------------
class AnalyzeLogsInput(_Input):
    """Analyse log lines with the coarse-to-fine reasoner: one task, log text or a file path."""

    task: str = Field("anomaly", description="task name: anomaly, diagnosis, rca, parse, interpret (see list_tasks)",
                      max_length=64)
    text: str | None = Field(None, description="raw log text (give text or path, not both)",
                             max_length=MAX_TEXT_CHARS)
    path: str | None = Field(None, description="a log file under one of the server's allowed folders",
                             max_length=4096)
    labels: list[str] | None = Field(None, description="allowed labels (required by the diagnosis task)",
                                     max_length=100)
    question: str | None = Field(None, description="what you want to know about the logs", max_length=2000)
    model: str | None = Field(None, description="model spec to use (must be one the server allows); "
                                                "default: the server's model", max_length=500)
    program: str = Field("coarse_to_fine", max_length=100,
                         description="which program answers: coarse_to_fine (default), coarse_to_fine_noretrieval, "
                                     "direct, cot, or the name of a compiled program this server offers "
                                     "(list_tasks shows them)")

    @model_validator(mode="after")
    def _one_source(self) -> "AnalyzeLogsInput":
        if (self.text is None) == (self.path is None):
            raise ValueError("give exactly one of 'text' (log text) or 'path' (a file under the allowed folders)")
        return self


class InputSummary(BaseModel):
    """What the reasoner was given."""

    source: str
    lines: int
    templates: int
    shown_templates: int
    bytes_read: int = 0
    truncated_by: str | None = Field(None, description="'bytes' or 'lines' when a read limit cut the input")


class PlanRef(BaseModel):
    id: str
    title: str = ""
    score: float = 0.0


class PlanSummary(BaseModel):
    problem_overview: str = ""
    key_challenges: list[str] = Field(default_factory=list)
    reasoning_steps: list[str] = Field(default_factory=list)


class AnalyzeLogsResult(BaseModel):
    """The typed answer with its trace: plan, steps, evidence lines, and any format failure."""

    task: str
    program: str
    model: str
    answer: dict[str, Any] | None = Field(None, description="the task's typed answer; null when the model's "
                                          "output could not be parsed (see format_error)")
    primary: Any = Field(None, description="the answer's primary field (e.g. verdict, label, cause)")
    evidence: list[EvidenceLine] = Field(default_factory=list)
    invented_lines: list[int] = Field(default_factory=list, description="line numbers the model cited that "
                                      "were not shown to it (dropped from evidence)")
    plan: PlanSummary | None = None
    steps: list[StepResult] = Field(default_factory=list)
    expert_plans: list[PlanRef] = Field(default_factory=list)
    input: InputSummary
    format_error: str | None = None
    seconds: float = 0.0


# -- retrieve_expert_plan ---------------------------------------------------------------------------------------------
class RetrieveExpertPlanInput(_Input):
    """Find the expert thought templates (how an expert approaches this kind of problem)."""

    problem: str = Field(description="the problem in words, or a few representative log lines",
                         min_length=1, max_length=20_000)
    task: str | None = Field(None, description="restrict to plans of this task (see list_tasks)", max_length=64)
    k: int = Field(3, ge=1, le=20, description="how many plans")


class ExpertPlansResult(BaseModel):
    task: str | None
    plans: list[ExpertPlan]


# -- explain_line -----------------------------------------------------------------------------------------------------
class ExplainLineInput(_Input):
    """Explain one log line: its template, severity words, and what it means."""

    line: str = Field(description="one log line", min_length=1, max_length=8000)
    context: str | None = Field(None, description="optional neighbouring lines (data only)", max_length=20_000)
    model: str | None = Field(None, description="model spec (must be one the server allows)", max_length=500)


class ExplainLineResult(BaseModel):
    line: str
    template: str = Field(description="the line with variable parts masked (Drain3)")
    severity_terms: list[str] = Field(default_factory=list, description="failure/severity words found in the line")
    explanation: str | None = Field(None, description="what the line means; null on a format failure")
    model: str
    format_error: str | None = None
    seconds: float = 0.0


# -- list_tasks -------------------------------------------------------------------------------------------------------
class ListTasksInput(_Input):
    """List the reasoning tasks the server knows."""


class TaskInfo(BaseModel):
    name: str
    description: str
    aliases: list[str] = Field(default_factory=list)
    primary_field: str
    needs_labels: bool = False
    labels: list[str] | None = None
    input_kind: str = "lines"
    answer_schema: dict[str, Any]


class TaskListResult(BaseModel):
    tasks: list[TaskInfo]
    programs: list[str] = Field(default_factory=list, description="programs analyze_logs accepts, compiled ones "
                                                                   "as 'name (compiled for task)'")
