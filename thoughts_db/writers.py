"""A flowchart written out as text: the canonical Mermaid form and the node-link JSON form.

The readers are :mod:`~logreasoner.thoughts_db.mermaid` and :mod:`~logreasoner.thoughts_db.jsonio` (which
export these writers too); :data:`MERMAID_SHAPES` is the shape table both Mermaid sides use. The writers need
only a chart's metadata, nodes and edges (:class:`ChartParts`), so :class:`~logreasoner.thoughts_db.graph.Flowchart`
can offer them as methods.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator, Protocol

from logreasoner.thoughts_db.chart_meta import FlowchartMeta, NodeKind

__all__ = ["ChartParts", "MERMAID_SHAPES", "to_mermaid", "to_node_link", "to_json"]


class ChartParts(Protocol):
    """What the writers read of a flowchart."""

    meta: FlowchartMeta

    def iter_nodes(self) -> Iterator[tuple[str, NodeKind, str]]: ...

    def iter_edges(self) -> Iterator[tuple[str, str, str | None]]: ...


# opening delimiter -> (closing delimiter, kind); longest openings first
MERMAID_SHAPES: list[tuple[str, str, NodeKind]] = [
    ("([", "])", NodeKind.symptom),
    ("((", "))", NodeKind.conclusion),
    ("[/", "/]", NodeKind.action),
    ("[\\", "\\]", NodeKind.action),
    ("[", "]", NodeKind.check),
    ("{", "}", NodeKind.decision),
]
_KIND_SHAPE = {k: (o, c) for o, c, k in MERMAID_SHAPES if o not in ("[\\",)}


def _encode(text: str) -> str:
    return text.replace("#", "#35;").replace('"', "#quot;").replace("|", "#124;")


_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}
_BARE_ITEM = re.compile(r"[A-Za-z_][A-Za-z0-9_./+-]*(?: [A-Za-z0-9_./+-]+)*")
_BARE_SCALAR = re.compile(r"[A-Za-z_][A-Za-z0-9_ ./()+,'-]*[A-Za-z0-9_.)]|[A-Za-z_]")
_BARE_TEXT = re.compile(r"[A-Za-z0-9 _.,:?!'+=*@$%&-]*[A-Za-z0-9_.?!'*%&-]")


def _yaml_item(v: str) -> str:
    return v if _BARE_ITEM.fullmatch(v) and v.lower() not in _YAML_WORDS else json.dumps(v, ensure_ascii=False)


def _yaml_scalar(v: str) -> str:
    ok = _BARE_SCALAR.fullmatch(v) and v.lower() not in _YAML_WORDS and "  " not in v
    return v if ok else json.dumps(v, ensure_ascii=False)


def _node_text(text: str) -> str:
    enc = _encode(text)
    return enc if _BARE_TEXT.fullmatch(enc) and not enc.startswith(" ") else f'"{enc}"'


def to_mermaid(fc: ChartParts) -> str:
    """The canonical Mermaid text of a flowchart (front matter, ``flowchart TD``, nodes, edges)."""
    m = fc.meta
    out = ["---", f"id: {m.id}", f"title: {_yaml_scalar(m.title) if m.title else json.dumps('')}"]
    for key in ("tasks", "systems", "components", "keywords"):
        out.append(f"{key}: [{', '.join(_yaml_item(x) for x in getattr(m, key))}]")
    out.append(f"source: {json.dumps(m.source, ensure_ascii=False)}")
    for key, value in m.extras().items():  # YAML dates and sets have no JSON form: written as text
        out.append(f"{key}: {json.dumps(value, ensure_ascii=False, default=str)}")
    out += ["---", "flowchart TD"]
    for nid, kind, text in fc.iter_nodes():
        opening, closing = _KIND_SHAPE[kind]
        out.append(f"  {nid}{opening}{_node_text(text)}{closing}")
    for a, b, cond in fc.iter_edges():
        out.append(f"  {a} --> {b}" if cond is None else f"  {a} -->|{_node_text(cond)}| {b}")
    return "\n".join(out) + "\n"


def to_node_link(fc: ChartParts) -> dict[str, Any]:
    return {
        "directed": True,
        "multigraph": False,
        "graph": fc.meta.model_dump(),
        "nodes": [{"id": n, "kind": k.value, "text": t} for n, k, t in fc.iter_nodes()],
        "edges": [{"source": a, "target": b, "condition": c} for a, b, c in fc.iter_edges()],
    }


def to_json(fc: ChartParts, *, indent: int | None = 2) -> str:
    return json.dumps(to_node_link(fc), indent=indent, ensure_ascii=False) + ("\n" if indent else "")
