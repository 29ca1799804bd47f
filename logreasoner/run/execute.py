"""Run a program on log lines with a model: the one path the CLI, the agents, scale and the evals share.

:func:`excerpt_for` sizes the excerpt the way the answering model is asked (the compact prompt profile of a
grammar-constrained local model shows fewer characters and templates; a one-line task such as parsing is shown
ungrouped and unnumbered); :func:`run_program` calls the program inside ``dspy.context(lm=...)`` and returns an
:class:`~logreasoner.run.result.AnalysisResult`.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from logreasoner.logs.excerpt import LogExcerpt, build_excerpt
from logreasoner.logs.reader import LogLine, ReadStats
from logreasoner.programs.profile import active_profile
from logreasoner.programs.resolve import program_label
from logreasoner.run.result import AnalysisResult
from logreasoner.tasks import Task, get_task

__all__ = ["excerpt_for", "run_program", "excerpt_stats"]


def excerpt_for(lines: Iterable[LogLine], *, task: str | Task, lm: Any = None, max_templates: int = 40,
                max_chars: int = 6000, stats: ReadStats | None = None) -> LogExcerpt:
    """The excerpt of ``lines`` a program answers ``task`` from with ``lm``: at most ``max_templates`` templates
    and ``max_chars`` characters, and no more than the model's prompt profile shows."""
    import dspy

    t = get_task(task)
    with dspy.context(**({"lm": lm} if lm is not None else {})):
        profile = active_profile()
    line_task = t.input_kind == "line"
    return build_excerpt(lines, max_templates=min(max_templates, profile.max_templates),
                         max_chars=min(max_chars, profile.excerpt_chars), stats=stats, group=not line_task,
                         numbered=not line_task)


def excerpt_stats(excerpt: LogExcerpt, stats: ReadStats | None = None) -> dict:
    """The input figures a result reports: lines, templates, templates shown, and what reading had to change."""
    out = {"lines": excerpt.total_lines, "templates": excerpt.total_templates, "shown": len(excerpt.shown)}
    if stats is not None:
        out.update({"lines": stats.lines, "replaced_bytes": stats.replaced_bytes,
                    "truncated_lines": stats.truncated_lines, "sources": stats.sources[:20],
                    "skipped_sources": stats.skipped_sources[:20]})
    return out


def run_program(program: Any, lm: Any, log: LogExcerpt, *, task: str | Task, question: str | None = None,
                labels: list[str] | None = None, model_name: str | None = None, program_name: str | None = None,
                stats: ReadStats | None = None, started: float | None = None) -> AnalysisResult:
    """Call ``program`` on the excerpt ``log`` with ``lm`` and return its typed answer with the trace.

    ``started`` (a ``time.perf_counter()`` value) makes ``seconds`` count from there (e.g. from reading the
    file); by default it counts the program call only.
    """
    import dspy

    t = get_task(task)
    t0 = time.perf_counter() if started is None else started
    with dspy.context(**({"lm": lm} if lm is not None else {})):
        pred = program(log=log, question=question, labels=labels)
    return AnalysisResult.from_prediction(
        pred, task=t.name, model=model_name or str(getattr(lm, "model", "") or ""),
        program=program_name or program_label(program), input_stats=excerpt_stats(log, stats),
        seconds=time.perf_counter() - t0)
