"""Stored flowcharts written out as files: ``<id>.mmd`` (canonical Mermaid) or ``<id>.json`` (node-link)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from logreasoner.errors import InputError
from logreasoner.thoughts_db.repository import ThoughtRepository
from logreasoner.thoughts_db.writers import to_json, to_mermaid

__all__ = ["EXPORT_FORMATS", "export_flowcharts"]

EXPORT_FORMATS = {"mermaid": ("mmd", to_mermaid), "json": ("json", to_json)}


def export_flowcharts(repository: ThoughtRepository, out_dir: str | Path, *, fmt: str = "mermaid",
                      ids: Iterable[str] | None = None) -> list[Path]:
    """Write the charts ``ids`` (all when None) into ``out_dir`` (created when missing); returns the paths."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {fmt!r}", "use 'mermaid' or 'json'")
    suffix, write = EXPORT_FORMATS[fmt]
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fid in (list(ids) if ids is not None else repository.flowchart_ids()):
        p = out / f"{fid}.{suffix}"
        p.write_text(write(repository.get_flowchart(fid)), encoding="utf-8")
        paths.append(p)
    return paths
