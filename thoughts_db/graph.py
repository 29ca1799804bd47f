"""A troubleshooting flowchart: a networkx ``DiGraph`` of typed nodes plus its metadata.

Nodes carry ``kind`` (one of :class:`NodeKind`) and ``text``; edges carry ``condition`` (the label that leads
along them, ``None`` when unlabelled). The graph keeps insertion order, so exports are deterministic and
round trips compare equal (:meth:`Flowchart.__eq__` compares metadata, nodes and edges in order).

The node kinds, metadata and error come from :mod:`~logreasoner.thoughts_db.chart_meta` (and are exported here
too); the text forms from :mod:`~logreasoner.thoughts_db.writers`.
"""

from __future__ import annotations

from typing import Any, Iterator

import networkx as nx

from logreasoner.thoughts_db.chart_meta import (
    NODE_ID_RE,
    FlowchartError,
    FlowchartMeta,
    NodeKind,
    make_meta,
    strip_kind_prefix,
)
from logreasoner.thoughts_db.writers import to_json, to_mermaid, to_node_link

__all__ = ["NodeKind", "FlowchartMeta", "Flowchart", "FlowchartError", "make_meta", "strip_kind_prefix", "NODE_ID_RE"]


class Flowchart:
    """A troubleshooting flowchart (see the module docstring)."""

    def __init__(self, meta: FlowchartMeta | dict[str, Any], graph: nx.DiGraph | None = None) -> None:
        self.meta = meta if isinstance(meta, FlowchartMeta) else make_meta(meta)
        self.graph: nx.DiGraph = graph if graph is not None else nx.DiGraph()

    # -- building -------------------------------------------------------------------------------------
    def add_node(self, node_id: str, kind: NodeKind | str, text: str) -> None:
        if not NODE_ID_RE.fullmatch(str(node_id)):
            raise FlowchartError(
                f"flowchart {self.id}: bad node id {node_id!r}", "node ids are letters, digits and '_', e.g. C1"
            )
        self.graph.add_node(str(node_id), kind=NodeKind.parse(kind).value, text=str(text).strip())

    def add_edge(self, src: str, dst: str, condition: str | None = None) -> None:
        for n in (src, dst):
            if n not in self.graph:
                raise FlowchartError(
                    f"flowchart {self.id}: edge {src} -> {dst} names unknown node {n!r}",
                    f"declare it first, e.g. {n}[Check: ...]",
                )
        cond = (condition or "").strip() or None
        if self.graph.has_edge(src, dst):
            raise FlowchartError(
                f"flowchart {self.id}: duplicate edge {src} -> {dst}",
                "a flowchart holds one edge per pair of nodes: merge the conditions into one label",
            )
        self.graph.add_edge(src, dst, condition=cond)

    # -- reading --------------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def title(self) -> str:
        return self.meta.title or self.meta.id

    def kind(self, node: str) -> NodeKind:
        return NodeKind(self.graph.nodes[node]["kind"])

    def text(self, node: str) -> str:
        return self.graph.nodes[node]["text"]

    def condition(self, src: str, dst: str) -> str | None:
        return self.graph.edges[src, dst].get("condition")

    def nodes_of(self, kind: NodeKind | str) -> list[str]:
        k = NodeKind.parse(kind).value
        return [n for n, d in self.graph.nodes(data=True) if d["kind"] == k]

    @property
    def entry(self) -> str | None:
        """The symptom node where reasoning starts (the first one when the chart is invalid and has several)."""
        symptoms = self.nodes_of(NodeKind.symptom)
        if symptoms:
            return symptoms[0]
        roots = [n for n in self.graph if self.graph.in_degree(n) == 0]
        return roots[0] if roots else None

    def iter_nodes(self) -> Iterator[tuple[str, NodeKind, str]]:
        for n, d in self.graph.nodes(data=True):
            yield n, NodeKind(d["kind"]), d["text"]

    def iter_edges(self) -> Iterator[tuple[str, str, str | None]]:
        for u, v, d in self.graph.edges(data=True):
            yield u, v, d.get("condition")

    # -- conversions (the readers are parse_mermaid and from_json) -------------------------------------
    def to_mermaid(self) -> str:
        return to_mermaid(self)

    def to_json(self, **kw: Any) -> str:
        return to_json(self, **kw)

    def to_dict(self) -> dict[str, Any]:
        return to_node_link(self)

    def copy(self, **meta_updates: Any) -> "Flowchart":
        meta = self.meta.model_copy(update=meta_updates, deep=True)
        return Flowchart(meta, self.graph.copy())

    # -- comparison -----------------------------------------------------------------------------------
    def _key(self) -> tuple:
        return (
            self.meta.model_dump(),
            [(n, dict(d)) for n, d in self.graph.nodes(data=True)],
            [(u, v, dict(d)) for u, v, d in self.graph.edges(data=True)],
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Flowchart) and self._key() == other._key()

    def __repr__(self) -> str:
        return (
            f"Flowchart(id={self.id!r}, nodes={self.graph.number_of_nodes()}, "
            f"edges={self.graph.number_of_edges()})"
        )
