"""What a flowchart is made of besides its graph: node kinds, the front matter metadata, and the error that
names what is wrong with a chart.

:mod:`~logreasoner.thoughts_db.graph` (the chart), its writers and readers and the checks all build on these.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from logreasoner.errors import InputError

__all__ = ["NodeKind", "FlowchartMeta", "FlowchartError", "make_meta", "strip_kind_prefix", "NODE_ID_RE"]

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


def make_meta(data: dict[str, Any], *, source_name: str | None = None) -> FlowchartMeta:
    """Validate front matter into :class:`FlowchartMeta`; errors name the file and the field."""
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

