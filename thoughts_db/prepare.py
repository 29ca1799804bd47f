"""Flowcharts made ready for the store before its first write: read, validated and turned into templates.

An import is all or nothing, so everything that can fail on the charts themselves happens here, outside the
write transaction; :class:`ImportResult` reports what was skipped and why.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable

from pydantic import BaseModel, Field

from logreasoner.thoughts_db.graph import Flowchart, FlowchartError
from logreasoner.thoughts_db.library import expand_flowchart_paths, load_flowchart
from logreasoner.thoughts_db.templates import DEFAULT_MAX_PATHS, ThoughtTemplate, flowchart_to_plans
from logreasoner.thoughts_db.validate import validate

__all__ = ["ImportResult", "PreparedChart", "MAX_CHART_BYTES", "load_chart_file", "prepare_import",
           "prepare_library"]

MAX_CHART_BYTES = 1_000_000  # a flowchart file larger than this is refused (expert charts are a few KB)
PreparedChart = tuple[Flowchart, list[ThoughtTemplate]]


class ImportResult(BaseModel):
    """What an import wrote."""

    flowcharts: list[str] = Field(default_factory=list)
    templates: int = 0
    unchanged: list[str] = Field(default_factory=list, description="charts already stored exactly so")
    skipped: list[str] = Field(default_factory=list, description="'<file or id>: <why>' for invalid charts")
    warnings: list[str] = Field(default_factory=list)


def load_chart_file(path: Path) -> Flowchart:
    """One flowchart file, refused when larger than ``MAX_CHART_BYTES``."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise FlowchartError(f"{path}: cannot read it ({e.strerror})", "check the path") from None
    if size > MAX_CHART_BYTES:
        raise FlowchartError(f"{path}: {size} bytes is too large for a flowchart (at most {MAX_CHART_BYTES})",
                             "split it into smaller charts")
    return load_flowchart(path)


def prepare_import(
    items: Iterable[Flowchart | str | Path] | Flowchart | str | Path,
    *,
    strict: bool = True,
    max_paths: int = DEFAULT_MAX_PATHS,
) -> tuple[list[PreparedChart], ImportResult]:
    """Charts (objects, files, folders or globs) with their templates, and the result so far.

    With ``strict`` an unreadable or invalid chart, or two charts with one id, raise :class:`FlowchartError`;
    otherwise they are left out and listed in ``skipped``. Validation warnings go to ``warnings``.
    """
    if isinstance(items, (Flowchart, str, Path)):
        items = [items]
    loaded: list[tuple[Flowchart, str]] = []
    result = ImportResult()
    for item in items:
        if isinstance(item, Flowchart):
            loaded.append((item, item.id))
            continue
        for p in expand_flowchart_paths([item]):
            try:
                loaded.append((load_chart_file(p), str(p)))
            except FlowchartError as e:  # unparsable or too large: lenient imports skip it and say why
                if strict:
                    raise
                result.skipped.append(f"{p}: {e.one_line()}")
    prepared: list[PreparedChart] = []
    seen: dict[str, str] = {}
    for fc, where in loaded:
        if fc.id in seen:
            if not strict:
                result.skipped.append(f"{where}: flowchart id {fc.id!r} is also used by {seen[fc.id]}")
                continue
            raise FlowchartError(f"{where}: flowchart id {fc.id!r} is also used by {seen[fc.id]}",
                                 "give every flowchart a unique id")
        seen[fc.id] = where
        rep = validate(fc)
        if rep.errors:
            if strict:
                rep.raise_for_errors(where)
            result.skipped.append(f"{where}: " + "; ".join(e.message for e in rep.errors))
            continue
        result.warnings += [f"{where}: {w.message}" for w in rep.warnings]
        prepared.append((fc, flowchart_to_plans(fc, strict=False, max_paths=max_paths)))
    return prepared, result


def prepare_library(files: list[Path]) -> list[PreparedChart]:
    """The shipped charts with their templates; a file that fails to parse or validate is skipped with a
    warning naming it."""
    charts: list[PreparedChart] = []
    for f in files:
        try:
            fc = load_flowchart(f)
            rep = validate(fc)
            rep.raise_for_errors(str(f))
            charts.append((fc, flowchart_to_plans(fc, strict=False)))
        except FlowchartError as e:
            warnings.warn(f"thought library: skipped {f.name}: {e}", stacklevel=3)
    return charts
