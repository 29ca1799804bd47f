"""A troubleshooting flowchart: a networkx ``DiGraph`` of typed nodes plus its metadata.

Nodes carry ``kind`` (one of :class:`NodeKind`) and ``text``; edges carry ``condition`` (the label that leads
along them, ``None`` when unlabelled). The graph keeps insertion order, so exports are deterministic and
round trips compare equal (:meth:`Flowchart.__eq__` compares metadata, nodes and edges in order).
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Iterator

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from logreasoner.errors import InputError

__all__ = ["NodeKind", "FlowchartMeta", "Flowchart", "FlowchartError", "make_meta", "strip_kind_prefix", "NODE_ID_RE"]

NODE_ID_RE = re.compile(r"[A-Za-z0-9_]+")
_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9._\-]*")


class FlowchartError(InputError):
    """A flowchart that cannot be parsed, or that fails validation."""


class NodeKind(str, Enum):
    """What a flowchart node stands for (and the Mermaid shape that draws it)."""

    symptom = "symptom"  # ([...]) stadium: the single entry
    check = "check"  # [...] rectangle: gather evidence
    decision = "decision"  # {...} rhombus: labelled branches
    action = "action"  # [/.../] parallelogram: remediation
    conclusion = "conclusion"  # ((...)) circle: where a path ends

    @classmethod
    def parse(cls, value: Any) -> "NodeKind":
        try:
            return cls(str(value.value if isinstance(value, NodeKind) else value).strip().lower())
        except ValueError:
            raise FlowchartError(
                f"unknown node kind {value!r}", f"use one of: {', '.join(k.value for k in cls)}"
            ) from None


_PREFIX_RE = re.compile(r"^\s*(symptom|check|decision|decide|question|action|act|conclusion|conclude)\s*:\s*", re.I)


def strip_kind_prefix(text: str) -> str:
    """``"Check: DataNode log"`` -> ``"DataNode log"`` (the kind is carried by the node, not its text)."""
    return _PREFIX_RE.sub("", text or "").strip()


def _str_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, (str, int, float)):
        v = [v]
    out: list[str] = []
    for x in v:
        s = str(x).strip()
        if s and s not in out:
            out.append(s)
    return out


class FlowchartMeta(BaseModel):
    """The front matter of a flowchart. Unknown keys are kept (and exported) as they are."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="unique slug, e.g. 'hdfs-block-missing'")
    title: str = ""
    tasks: list[str] = Field(default_factory=list, description="task names from logreasoner.tasks")
    systems: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list, description="literal tokens that appear in such logs")
    source: str = ""

    @field_validator("id", mode="before")
    @classmethod
    def _slug(cls, v: Any) -> str:
        s = str(v or "").strip()
        if not _SLUG_RE.fullmatch(s):
            raise ValueError(
                f"flowchart id {s!r} is not a slug: use lowercase letters, digits, '-', '_' or '.', "
                "e.g. 'hdfs-block-missing'"
            )
        return s

    @field_validator("title", "source", mode="before")
    @classmethod
    def _text(cls, v: Any) -> str:
        return "" if v is None else str(v).strip()

    @field_validator("systems", "components", "keywords", mode="before")
    @classmethod
    def _lists(cls, v: Any) -> list[str]:
        return _str_list(v)

    @field_validator("tasks", mode="before")
    @classmethod
    def _tasks(cls, v: Any) -> list[str]:
        from logreasoner.errors import UnknownTaskError
        from logreasoner.tasks import get_task

        out: list[str] = []
        for name in _str_list(v):
            try:
                t = get_task(name).name
            except UnknownTaskError as e:
                raise ValueError(e.one_line()) from None
            if t not in out:
                out.append(t)
        return out

    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


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

    # -- conversions ----------------------------------------------------------------------------------
    def to_mermaid(self) -> str:
        from logreasoner.thoughts_db.mermaid import to_mermaid

        return to_mermaid(self)

    def to_json(self, **kw: Any) -> str:
        from logreasoner.thoughts_db.jsonio import to_json

        return to_json(self, **kw)

    def to_dict(self) -> dict[str, Any]:
        from logreasoner.thoughts_db.jsonio import to_node_link

        return to_node_link(self)

    @classmethod
    def from_mermaid(cls, text: str, *, source_name: str | None = None) -> "Flowchart":
        from logreasoner.thoughts_db.mermaid import parse_mermaid

        return parse_mermaid(text, source_name=source_name)

    @classmethod
    def from_json(cls, data: str | dict[str, Any], *, source_name: str | None = None) -> "Flowchart":
        from logreasoner.thoughts_db.jsonio import from_json

        return from_json(data, source_name=source_name)

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


def make_meta(data: dict[str, Any], *, source_name: str | None = None) -> FlowchartMeta:
    """Validate front matter into :class:`FlowchartMeta`; errors name the file and the field."""
    from pydantic import ValidationError

    where = f"{source_name}: " if source_name else ""
    if not isinstance(data, dict):
        raise FlowchartError(f"{where}flowchart metadata must be a mapping, got {type(data).__name__}")
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        raise FlowchartError(f"{where}flowchart metadata key {bad_keys[0]!r} is not a name",
                             "use names such as id, title, tasks, systems as keys")
    if not data.get("id"):
        raise FlowchartError(f"{where}flowchart metadata has no 'id'", "add e.g. 'id: hdfs-block-missing'")
    try:
        return FlowchartMeta(**data)
    except ValidationError as e:
        msgs = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise FlowchartError(f"{where}bad flowchart metadata: {msgs}", "fix the front matter") from None

