"""One call from a log to its templates: ``parse_log(path_or_text, model=..., system=...)``.

The API face of :mod:`logreasoner.logs.batch_parse` (what ``logreasoner parse`` runs): lines are read as
``analyze`` reads them, grouped by Drain3, one template per group asked of the parse program on ``model``
(none: Drain3's templates), checked against every line of the group, and cached per system across runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from logreasoner.logs.batch_parse import BatchParser, BatchParseSettings, ParseResult
from logreasoner.logs.template_store import TemplateStore, default_template_store_path

__all__ = ["parse_log", "parse_lines"]


def _store(cache: bool | str | Path | TemplateStore | None) -> TemplateStore | None:
    if cache is None or cache is False:
        return None
    if isinstance(cache, TemplateStore):
        return cache
    return TemplateStore(default_template_store_path() if cache is True else cache)


def parse_lines(lines: list[str], *, model: str | Any = None, system: str = "default", program: Any = "direct",
                cache: bool | str | Path | TemplateStore | None = True, settings: BatchParseSettings | None = None,
                lm_kwargs: dict | None = None) -> ParseResult:
    """Templates for ``lines`` (message contents or whole lines).

    ``model``: a spec for :func:`logreasoner.lm.load_lm`, a ready ``dspy.LM``, or None (Drain3 templates only).
    ``system``: the cache partition, and the Drain settings when it names a Loghub system. ``cache``: True (the
    default file in the cache dir), a path, a :class:`TemplateStore`, or None/False (no cache).
    """
    templater = None
    if model is not None:
        from logreasoner.lm import load_lm
        from logreasoner.programs.group_template import ProgramTemplater

        lm = load_lm(model, **(lm_kwargs or {})) if isinstance(model, str) else model
        templater = ProgramTemplater(lm, program=program)
    parser = BatchParser(templater, settings=settings or BatchParseSettings.for_system(system), store=_store(cache))
    return parser.parse(lines, system=system)


def parse_log(log: str | Path | list[str] | None = None, *, text: str | None = None, **kwargs: Any) -> ParseResult:
    """Parse a log file (or glob, folder, list of paths, ``-`` for stdin, or ``text=``); see :func:`parse_lines`."""
    from logreasoner.errors import InputError
    from logreasoner.logs.reader import ReadStats, no_lines_error, read_lines

    stats = ReadStats()
    if text is not None:
        lines = read_lines(text=text, stats=stats)
    else:
        if log is None:
            raise InputError("no log given", "pass a path, a glob, '-' for stdin, or text=...")
        lines = read_lines([str(x) for x in log] if isinstance(log, list) else str(log), stats=stats)
    if not lines:
        raise no_lines_error(stats)
    return parse_lines([ln.text for ln in lines], **kwargs)
