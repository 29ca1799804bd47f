"""Mermaid flowchart text <-> :class:`Flowchart`.

The project's convention: YAML front matter (``id``, ``title``, ``tasks``, ``systems``, ``components``,
``keywords``, ``source``), then ``flowchart TD``; node shapes give the node kind::

    S0([Symptom: ...])    stadium        -> symptom (the single entry)
    C1[Check: ...]        rectangle      -> check
    D1{Question?}         rhombus        -> decision (every outgoing edge labelled)
    A1[/Action: .../]     parallelogram  -> action   ([\\...\\] too)
    K1((Conclusion: ...)) circle         -> conclusion

Edges: ``A --> B``, ``A -- label --> B``, ``A -->|label| B``, chains ``A --> B --> C`` and groups ``A & B --> C``
(also the ``==>`` and ``-.->`` arrow styles). ``%%`` starts a comment; ``classDef``/``class``/``style``/
``linkStyle``/``click``/``subgraph``/``end``/``direction`` lines are accepted and ignored. Texts may be
quoted (``C1["Check: a (b)"]``); ``#quot;`` and ``#35;`` style entity codes are decoded.

:func:`to_mermaid` (from :mod:`~logreasoner.thoughts_db.writers`) writes the canonical form (always
``flowchart TD``, nodes then edges, in graph order), so ``parse_mermaid(to_mermaid(fc)) == fc`` and the canonical
text is a fixed point.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from logreasoner.thoughts_db.graph import Flowchart, FlowchartError, NodeKind, make_meta
from logreasoner.thoughts_db.writers import MERMAID_SHAPES, to_mermaid

__all__ = ["parse_mermaid", "to_mermaid", "split_front_matter"]

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 20x faster, same result

_UNSUPPORTED_SHAPES = {
    "(((": "double circle",
    "[[": "subroutine",
    "[(": "cylinder",
    "{{": "hexagon",
    "(": "rounded rectangle",
    ">": "asymmetric",
}
_SHAPE_HINT = "use ([...]) symptom, [...] check, {...} decision, [/.../] action, ((...)) conclusion"

_ID = re.compile(r"[A-Za-z0-9_]+")
# "-- label -->", "== label ==>", "-. label .->"
_MID_LABEL = re.compile(r"(?:--|==|-\.)(?![-=.>])\s*(?P<label>\"[^\"]*\"|.+?)\s*(?:-{2,}>|={2,}>|\.-+>)")
# "-->", "==>", "-.->", optionally followed by "|label|"
_ARROW = re.compile(r"(?:-{2,}>|={2,}>|-\.+->)(?:\s*\|(?P<label>[^|]*)\|)?")
_BAD_LINK = re.compile(r"(?:-{3,}(?!>)|--[ox]|<-{2,}|={3,}(?!>))")
_IGNORED = re.compile(r"^(classDef|class|style|linkStyle|click|subgraph|end|direction|accTitle|accDescr)\b")
_HEADER = re.compile(r"^(flowchart|graph)(\s+(TD|TB|BT|LR|RL))?\s*;?$", re.I)

_ENTITIES = {"quot": '"', "amp": "&", "lt": "<", "gt": ">", "35": "#", "124": "|", "59": ";"}
_ENTITY_RE = re.compile(r"#(quot|amp|lt|gt|\d{1,6});")


def _decode(text: str) -> str:
    def sub(m: re.Match) -> str:
        key = m.group(1)
        if key in _ENTITIES:
            return _ENTITIES[key]
        return chr(int(key)) if key.isdigit() else m.group(0)

    return _ENTITY_RE.sub(sub, text)


def split_front_matter(text: str, *, source_name: str | None = None) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    """Split ``---`` YAML front matter from the diagram; returns (metadata, [(line number, line), ...])."""
    where = source_name or "mermaid"
    lines = text.lstrip("\ufeff").splitlines()
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or lines[i].strip() != "---":
        raise FlowchartError(
            f"{where}: no front matter",
            "start the file with '---', then 'id: my-flowchart', 'title: ...', 'tasks: [...]', then '---'",
        )
    start = i + 1
    end = next((j for j in range(start, len(lines)) if lines[j].strip() == "---"), None)
    if end is None:
        raise FlowchartError(f"{where}: front matter is not closed", "end the metadata block with a '---' line")
    try:
        meta = yaml.load("\n".join(lines[start:end]), Loader=_YAML_LOADER) or {}
    except yaml.YAMLError as e:
        raise FlowchartError(f"{where}: front matter is not valid YAML: {e}", "fix the metadata block") from None
    return meta, [(n + 1, lines[n]) for n in range(end + 1, len(lines))]


def _strip_comment(line: str) -> str:
    in_quote = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_quote = not in_quote
        elif not in_quote and line.startswith("%%", i):
            return line[:i]
    return line


class _Parser:
    def __init__(self, fc: Flowchart, where: str) -> None:
        self.fc = fc
        self.where = where
        self.declared: dict[str, tuple[NodeKind, str]] = {}
        self.referenced: dict[str, int] = {}
        self.edges: list[tuple[str, str, str | None, int]] = []

    def err(self, lineno: int, msg: str, hint: str | None = None) -> FlowchartError:
        return FlowchartError(f"{self.where} line {lineno}: {msg}", hint)

    def statement(self, s: str, lineno: int) -> None:
        pos = 0
        groups: list[list[str]] = []
        labels: list[str | None] = []
        while True:
            group, pos = self._group(s, pos, lineno)
            groups.append(group)
            pos = _skip_ws(s, pos)
            if pos >= len(s) or s[pos] == ";":
                if s[pos:].strip(" ;"):
                    raise self.err(lineno, f"unexpected text {s[pos:]!r}")
                break
            label, pos = self._link(s, pos, lineno)
            labels.append(label)
        for (a_group, b_group), label in zip(zip(groups, groups[1:]), labels):
            for a in a_group:
                for b in b_group:
                    self.edges.append((a, b, label, lineno))

    def _group(self, s: str, pos: int, lineno: int) -> tuple[list[str], int]:
        ids = []
        while True:
            nid, pos = self._node(s, _skip_ws(s, pos), lineno)
            ids.append(nid)
            p = _skip_ws(s, pos)
            if p < len(s) and s[p] == "&":
                pos = p + 1
                continue
            return ids, pos

    def _node(self, s: str, pos: int, lineno: int) -> tuple[str, int]:
        m = _ID.match(s, pos)
        if not m:
            raise self.err(lineno, f"expected a node id at {s[pos:pos + 30]!r}", "node ids are letters, digits, '_'")
        nid, pos = m.group(0), m.end()
        self.referenced.setdefault(nid, lineno)
        for opening, closing, kind in MERMAID_SHAPES:
            if s.startswith(opening, pos):
                for bad, name in _UNSUPPORTED_SHAPES.items():
                    if s.startswith(bad, pos) and len(bad) > len(opening):
                        raise self.err(lineno, f"node {nid} uses the {name} shape {bad!r}, which means nothing "
                                               "in a thought flowchart", _SHAPE_HINT)
                text, pos = self._text(s, pos + len(opening), closing, nid, lineno)
                self._declare(nid, kind, text, lineno)
                break
        else:
            for bad, name in _UNSUPPORTED_SHAPES.items():
                if s.startswith(bad, pos):
                    raise self.err(lineno, f"node {nid} uses the {name} shape {bad!r}, which means nothing in "
                                           "a thought flowchart", _SHAPE_HINT)
        if s.startswith(":::", pos):
            m = re.compile(r":::[\w-]+").match(s, pos)
            pos = m.end() if m else pos + 3
        return nid, pos

    def _text(self, s: str, pos: int, closing: str, nid: str, lineno: int) -> tuple[str, int]:
        p = _skip_ws(s, pos)
        if p < len(s) and s[p] == '"':
            q = s.find('"', p + 1)
            if q < 0:
                raise self.err(lineno, f"node {nid}: unterminated quoted text")
            text = s[p + 1:q]
            end = _skip_ws(s, q + 1)
            if not s.startswith(closing, end):
                raise self.err(lineno, f"node {nid}: expected {closing!r} after the quoted text", _SHAPE_HINT)
            return _decode(text), end + len(closing)
        end = s.find(closing, pos)
        if end < 0:
            raise self.err(lineno, f"node {nid}: shape is not closed (expected {closing!r})", _SHAPE_HINT)
        return _decode(s[pos:end].strip()), end + len(closing)

    def _declare(self, nid: str, kind: NodeKind, text: str, lineno: int) -> None:
        if not text:
            raise self.err(lineno, f"node {nid} has an empty text", "say what the node checks, decides or concludes")
        prev = self.declared.get(nid)
        if prev is None:
            self.declared[nid] = (kind, text)
            self.fc.add_node(nid, kind, text)
        elif prev != (kind, text):
            raise self.err(
                lineno,
                f"node {nid} is declared twice with different content ({prev[0].value} {prev[1]!r} vs "
                f"{kind.value} {text!r})",
                "declare each node once; later references use the bare id",
            )

    def _link(self, s: str, pos: int, lineno: int) -> tuple[str | None, int]:
        m = _MID_LABEL.match(s, pos) or _ARROW.match(s, pos)
        if not m:
            bad = _BAD_LINK.match(s, pos)
            if bad:
                raise self.err(lineno, f"link {bad.group(0)!r} is not a directed arrow",
                               "use 'A --> B', 'A -- label --> B' or 'A -->|label| B'")
            raise self.err(lineno, f"expected an arrow at {s[pos:pos + 30]!r}",
                           "use 'A --> B', 'A -- label --> B' or 'A -->|label| B'")
        label = m.group("label")
        if label is not None:
            label = label.strip()
            if len(label) >= 2 and label[0] == label[-1] == '"':
                label = label[1:-1]
            label = _decode(label).strip() or None
        return label, m.end()

    def finish(self) -> None:
        for nid, lineno in self.referenced.items():
            if nid not in self.declared:
                raise self.err(lineno, f"node {nid} is used but never given a shape and text",
                               f"declare it once, e.g. {nid}[Check: ...]")
        for a, b, label, lineno in self.edges:
            if self.fc.graph.has_edge(a, b):
                raise self.err(lineno, f"duplicate edge {a} -> {b}",
                               "a flowchart holds one edge per pair of nodes: merge the conditions into one label")
            self.fc.add_edge(a, b, label)


def _skip_ws(s: str, pos: int) -> int:
    while pos < len(s) and s[pos].isspace():
        pos += 1
    return pos


def parse_mermaid(text: str, *, source_name: str | None = None) -> Flowchart:
    """Parse Mermaid flowchart text (with front matter) into a :class:`Flowchart`.

    Raises :class:`FlowchartError` naming the file, the line and the node when the text does not follow the
    convention. This parses; :func:`logreasoner.thoughts_db.validate` checks the graph's structure.
    """
    where = source_name or "mermaid"
    meta, body = split_front_matter(text, source_name=source_name)
    fc = Flowchart(make_meta(meta, source_name=source_name))
    parser = _Parser(fc, where)
    header_seen = False
    for lineno, raw in body:
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if not header_seen:
            if not _HEADER.match(line):
                raise parser.err(lineno, f"expected 'flowchart TD' (or 'graph TD'), got {line[:40]!r}",
                                 "the diagram must be a Mermaid flowchart")
            header_seen = True
            continue
        if _IGNORED.match(line):
            continue
        parser.statement(line.rstrip(";").rstrip(), lineno)
    if not header_seen:
        raise FlowchartError(f"{where}: no 'flowchart TD' diagram after the front matter",
                             "add the Mermaid flowchart below the metadata")
    parser.finish()
    return fc
