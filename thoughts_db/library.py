"""Flowchart files: reading one (Mermaid ``.mmd``/``.mermaid`` or JSON ``.json``), expanding paths, and the
expert library shipped in ``thoughts_db/library/``.

The library's hash covers the file names, their bytes and :data:`DERIVATION_VERSION` (bumped when the
flowchart-to-template derivation changes), so a store reloads the library when any of them changes.
"""

from __future__ import annotations

import glob
import hashlib
from pathlib import Path
from typing import Iterable

from logreasoner.errors import InputError
from logreasoner.thoughts_db.graph import Flowchart, FlowchartError

__all__ = [
    "FLOWCHART_SUFFIXES",
    "DERIVATION_VERSION",
    "load_flowchart",
    "parse_flowchart_text",
    "expand_flowchart_paths",
    "library_dir",
    "library_files",
    "library_hash",
]

FLOWCHART_SUFFIXES = (".mmd", ".mermaid", ".json")
DERIVATION_VERSION = "1"


def parse_flowchart_text(text: str, *, source_name: str | None = None, fmt: str | None = None) -> Flowchart:
    """Parse Mermaid or JSON text; ``fmt`` is ``"mermaid"``/``"json"`` or guessed from the first character."""
    from logreasoner.thoughts_db.jsonio import from_json
    from logreasoner.thoughts_db.mermaid import parse_mermaid

    if fmt is None:
        fmt = "json" if text.lstrip("\ufeff \t\r\n").startswith("{") else "mermaid"
    if fmt == "json":
        return from_json(text, source_name=source_name)
    if fmt == "mermaid":
        return parse_mermaid(text, source_name=source_name)
    raise InputError(f"unknown flowchart format {fmt!r}", "use 'mermaid' or 'json'")


def load_flowchart(path: str | Path) -> Flowchart:
    """Read one flowchart file; the suffix picks the format (``.json`` = node-link JSON, else Mermaid)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no flowchart file at {p}", "check the path")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FlowchartError(f"{p}: not UTF-8 text", "save the flowchart as UTF-8") from None
    return parse_flowchart_text(text, source_name=str(p), fmt="json" if p.suffix.lower() == ".json" else "mermaid")


def expand_flowchart_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files, folders (their flowchart files, sorted) and glob patterns -> flowchart files, in order."""
    out: list[Path] = []
    for item in paths:
        s = str(item)
        p = Path(s).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in FLOWCHART_SUFFIXES)
            if not found:
                raise InputError(f"no flowchart files in {p}", f"expected files ending in {', '.join(FLOWCHART_SUFFIXES)}")
            out += found
        elif p.is_file():
            out.append(p)
        elif any(ch in s for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(s, recursive=True) if Path(m).is_file())
            if not matches:
                raise InputError(f"no file matches {s}", "check the pattern")
            out += matches
        else:
            raise InputError(f"no flowchart file or folder at {s}", "check the path")
    return list(dict.fromkeys(out))


def library_dir() -> Path:
    """Where the shipped flowcharts live (package data of ``logreasoner.thoughts_db``)."""
    return Path(__file__).resolve().parent / "library"


def library_files(directory: str | Path | None = None) -> list[Path]:
    d = Path(directory) if directory is not None else library_dir()
    if not d.is_dir():
        return []
    return sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in FLOWCHART_SUFFIXES)


def library_hash(files: Iterable[Path]) -> str:
    h = hashlib.sha256(f"derivation={DERIVATION_VERSION}\n".encode())
    for f in files:
        h.update(f.name.encode("utf-8") + b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()
