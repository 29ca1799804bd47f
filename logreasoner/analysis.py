"""One call from a log to a typed, evidenced answer: ``analyze(path_or_text, task=...)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from logreasoner.run.result import AnalysisResult, EvidenceLine

__all__ = ["analyze", "AnalysisResult", "EvidenceLine", "load_program"]


def load_program(program: str | Any, task: Any, **kwargs: Any) -> Any:
    """A program by kind name, a saved/compiled program file (``.json``/``.pkl``), or a module as is
    (:func:`logreasoner.programs.resolve_program`)."""
    from logreasoner.programs.resolve import resolve_program

    return resolve_program(program, task, **kwargs)


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

    from logreasoner.errors import InputError
    from logreasoner.lm import load_lm
    from logreasoner.logs.reader import ReadStats, iter_lines, no_lines_error, read_lines
    from logreasoner.programs.resolve import resolve_program
    from logreasoner.run.execute import excerpt_for, run_program
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
    lm = load_lm(model, **(lm_kwargs or {})) if isinstance(model, str) else model  # loads nothing yet
    excerpt = excerpt_for(lines, task=t, lm=lm, max_templates=max_templates, stats=stats)
    if not excerpt.total_lines:
        raise no_lines_error(stats)
    prog = resolve_program(program, t)
    return run_program(prog, lm, excerpt, task=t, question=question, labels=labels,
                       model_name=getattr(lm, "model", str(model)), program_name=program if isinstance(program, str)
                       else type(program).__name__, stats=stats, started=t0)
