"""One call from a log to a typed, evidenced answer: ``analyze(path_or_text, task=...)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from logreasoner.logs.reader import ReadStats

__all__ = ["analyze", "AnalysisResult", "load_program"]


class EvidenceLine(BaseModel):
    source: str
    line: int
    text: str


class AnalysisResult(BaseModel):
    """What ``analyze`` returns (and what ``logreasoner analyze --json`` prints)."""

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


def load_program(program: str | Any, task: Any, **kwargs: Any) -> Any:
    """A program by kind name, a saved/compiled program file (``.json``/``.pkl``), or a module as is."""
    from logreasoner.programs import build_program

    if not isinstance(program, str):
        return program
    if program.endswith((".json", ".pkl")):
        from logreasoner.programs.optimize import load_compiled

        return load_compiled(program, getattr(task, "name", task), **kwargs)
    return build_program(program, task, **kwargs)


def analyze(
    log: str | Path | list[str] | None = None,
    *,
    task: str = "anomaly",
    model: str | Any = "local",
    labels: list[str] | None = None,
    question: str | None = None,
    program: str | Any = "coarse_to_fine",
    text: str | None = None,
    max_templates: int = 40,
    lm_kwargs: dict | None = None,
) -> AnalysisResult:
    """Analyse a log file (or glob, folder, list of paths, or ``text=``) with a program and a model.

    ``model`` is a spec for :func:`logreasoner.lm.load_lm` or a ready ``dspy.LM``.
    """
    import time

    import dspy

    from logreasoner.errors import InputError
    from logreasoner.lm import load_lm
    from logreasoner.logs.excerpt import build_excerpt
    from logreasoner.logs.reader import iter_lines, no_lines_error, read_lines
    from logreasoner.tasks import get_task

    t0 = time.perf_counter()
    t = get_task(task)
    t.answer_model(labels)  # fail fast on a missing label set, before any model loads
    stats = ReadStats()
    if text is not None:
        lines = read_lines(text=text, stats=stats)
    else:  # streamed into the grouper: memory grows with the templates, not with the file
        if log is None:
            raise InputError("no log given", "pass a path, a glob, '-' for stdin, or text=...")
        lines = iter_lines([str(x) for x in log] if isinstance(log, list) else str(log), stats=stats)
    line_task = t.input_kind == "line"
    lm = load_lm(model, **(lm_kwargs or {})) if isinstance(model, str) else model  # loads nothing yet
    from logreasoner.programs.profile import active_profile

    with dspy.context(lm=lm):  # the answering model's prompt profile sizes the excerpt (compact for local)
        profile = active_profile()
    excerpt = build_excerpt(lines, max_templates=min(max_templates, profile.max_templates),
                            max_chars=profile.excerpt_chars, stats=stats, group=not line_task,
                            numbered=not line_task)
    if not excerpt.total_lines:
        raise no_lines_error(stats)
    prog = load_program(program, t)
    with dspy.context(lm=lm):
        pred = prog(log=excerpt, question=question, labels=labels)
    answer = pred.answer
    return AnalysisResult(
        task=t.name,
        model=getattr(lm, "model", str(model)),
        program=program if isinstance(program, str) else type(program).__name__,
        answer=answer.model_dump() if answer is not None else None,
        plan=pred.plan.model_dump() if getattr(pred, "plan", None) is not None else None,
        steps=[s.model_dump() for s in (getattr(pred, "steps", None) or [])],
        evidence=[EvidenceLine(source=ln.source, line=ln.number, text=ln.text) for ln in (pred.evidence or [])],
        expert_plans=[p.id for p in (getattr(pred, "expert_plans", None) or [])],
        format_error=pred.format_error,
        raw=pred.raw,
        invented_lines=list(getattr(pred, "invented_lines", None) or []),
        degenerate=list(getattr(pred, "degenerate", None) or []),
        input_stats={"lines": stats.lines, "templates": excerpt.total_templates, "shown": len(excerpt.shown),
                     "replaced_bytes": stats.replaced_bytes, "truncated_lines": stats.truncated_lines,
                     "sources": stats.sources[:20], "skipped_sources": stats.skipped_sources[:20]},
        seconds=round(time.perf_counter() - t0, 3),
    )
