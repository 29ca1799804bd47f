"""JSON node-link <-> :class:`Flowchart` (the writers live in :mod:`~logreasoner.thoughts_db.writers`).

The layout is networkx's node-link format (``networkx.node_link_graph(data, edges="edges")`` reads it)::

    {"directed": true, "multigraph": false,
     "graph": {"id": ..., "title": ..., "tasks": [...], ...},
     "nodes": [{"id": "S0", "kind": "symptom", "text": "..."}, ...],
     "edges": [{"source": "S0", "target": "C1", "condition": null}, ...]}

Older networkx writes ``"links"`` instead of ``"edges"``; both are read.
"""

from __future__ import annotations

import json
from typing import Any

from logreasoner.thoughts_db.graph import Flowchart, FlowchartError, make_meta
from logreasoner.thoughts_db.writers import to_json, to_node_link

__all__ = ["to_node_link", "from_node_link", "to_json", "from_json"]


def from_node_link(data: dict[str, Any], *, source_name: str | None = None) -> Flowchart:
    where = f"{source_name}: " if source_name else ""
    if not isinstance(data, dict):
        raise FlowchartError(f"{where}a flowchart JSON must be an object", "see logreasoner.thoughts_db.jsonio")
    if data.get("multigraph"):
        raise FlowchartError(f"{where}multigraph flowcharts are not supported", "keep one edge per pair of nodes")
    if data.get("directed") is False:
        raise FlowchartError(f"{where}the flowchart graph must be directed", "set \"directed\": true")
    fc = Flowchart(make_meta(data.get("graph") or {}, source_name=source_name))
    nodes = data.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise FlowchartError(f"{where}flowchart {fc.id} has no 'nodes' list", "add the nodes")
    for i, n in enumerate(nodes):
        if not isinstance(n, dict) or "id" not in n or "kind" not in n or not str(n.get("text") or "").strip():
            raise FlowchartError(
                f"{where}flowchart {fc.id}: node #{i} must have 'id', 'kind' and a non-empty 'text'", f"got {n!r}"
            )
        if str(n["id"]) in fc.graph:
            raise FlowchartError(f"{where}flowchart {fc.id}: node {n['id']} is listed twice", "list each node once")
        fc.add_node(str(n["id"]), n["kind"], str(n["text"]))
    edges = data.get("edges", data.get("links", []))
    for i, e in enumerate(edges or []):
        if not isinstance(e, dict) or "source" not in e or "target" not in e:
            raise FlowchartError(f"{where}flowchart {fc.id}: edge #{i} needs 'source' and 'target'", f"got {e!r}")
        cond = e.get("condition")
        fc.add_edge(str(e["source"]), str(e["target"]), None if cond is None else str(cond))
    return fc


def from_json(data: str | bytes | dict[str, Any], *, source_name: str | None = None) -> Flowchart:
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as e:
            raise FlowchartError(f"{source_name or 'json'}: not valid JSON: {e}", "check the file") from None
    return from_node_link(data, source_name=source_name)
