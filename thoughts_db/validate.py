"""Structural checks of a flowchart, with messages that name the node.

Errors (the chart cannot be used):
  - ``entry``: there must be exactly one symptom node, with no incoming edges;
  - ``unreachable``: every node must be reachable from the symptom;
  - ``decision``: a decision needs at least two outgoing edges, each labelled, labels distinct;
  - ``conclusion``: at least one conclusion must be reachable from the symptom, and a conclusion ends a path
    (no outgoing edges);
  - ``empty``: no nodes, or a node without text;
  - ``too-large``: more than :data:`MAX_NODES` nodes or :data:`MAX_EDGES` edges, a node text longer than
    :data:`MAX_NODE_TEXT` characters, or an id longer than :data:`MAX_ID_CHARS` (expert charts are small; a huge
    one only fills the store).

Warnings (the chart is usable; the author may want to look):
  - ``cycle``: a loop such as "act, then check again". Loops are legitimate in troubleshooting (retry after a
    fix), so they are reported, not refused; templates follow simple paths only, so a loop is walked once.
  - ``dead-end``: a node from which no conclusion can be reached (for example a final action without a
    conclusion after it); no template comes out of such a path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from logreasoner.thoughts_db.graph import Flowchart, FlowchartError, NodeKind

__all__ = ["Issue", "ValidationReport", "validate", "check", "MAX_NODES", "MAX_EDGES", "MAX_NODE_TEXT", "MAX_ID_CHARS"]

_MAX_CYCLES_REPORTED = 10
MAX_NODES = 500
MAX_EDGES = 2000
MAX_NODE_TEXT = 2000
MAX_ID_CHARS = 120


@dataclass(frozen=True)
class Issue:
    code: str
    message: str
    node: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass
class ValidationReport:
    flowchart_id: str
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self, source_name: str | None = None) -> None:
        if self.errors:
            where = f"{source_name}: " if source_name else ""
            msgs = "; ".join(e.message for e in self.errors)
            raise FlowchartError(
                f"{where}flowchart {self.flowchart_id} is invalid: {msgs}",
                "fix the chart (see logreasoner.thoughts_db.validate for the rules)",
            )


def validate(fc: Flowchart) -> ValidationReport:
    """Check a flowchart's structure; returns the errors and warnings (never raises)."""
    rep = ValidationReport(fc.id)
    g = fc.graph
    err = lambda code, msg, node=None: rep.errors.append(Issue(code, f"{msg}", node))  # noqa: E731
    warn = lambda code, msg, node=None: rep.warnings.append(Issue(code, f"{msg}", node))  # noqa: E731

    if g.number_of_nodes() == 0:
        err("empty", "the flowchart has no nodes")
        return rep
    too_large = []
    if g.number_of_nodes() > MAX_NODES:
        too_large.append(f"{g.number_of_nodes()} nodes (at most {MAX_NODES})")
    if g.number_of_edges() > MAX_EDGES:
        too_large.append(f"{g.number_of_edges()} edges (at most {MAX_EDGES})")
    if len(fc.id) > MAX_ID_CHARS:
        too_large.append(f"an id of {len(fc.id)} characters (at most {MAX_ID_CHARS})")
    long_ids = [n for n in g if len(n) > MAX_ID_CHARS]
    if long_ids:
        too_large.append(f"node id {long_ids[0][:20]}... of {len(long_ids[0])} characters (at most {MAX_ID_CHARS})")
    long_texts = [n for n, _k, text in fc.iter_nodes() if len(text) > MAX_NODE_TEXT]
    if long_texts:
        too_large.append(f"node {long_texts[0][:40]} has {len(fc.text(long_texts[0]))} characters of text "
                         f"(at most {MAX_NODE_TEXT})")
    if too_large:
        err("too-large", "the flowchart is too large: " + "; ".join(too_large) + "; split it into smaller charts")
        return rep  # the structural checks below cost time on a huge graph and add nothing
    for n, _kind, text in fc.iter_nodes():
        if not text.strip():
            err("empty", f"node {n} has no text", n)

    symptoms = fc.nodes_of(NodeKind.symptom)
    if not symptoms:
        err("entry", "no symptom node: add one entry node drawn as a stadium, e.g. S0([Symptom: ...])")
        entry = None
    else:
        if len(symptoms) > 1:
            err("entry", f"{len(symptoms)} symptom nodes ({', '.join(symptoms)}): a flowchart has exactly one "
                         "entry; make the others checks", symptoms[1])
        entry = symptoms[0]
        preds = list(g.predecessors(entry))
        if preds:
            err("entry", f"entry node {entry} has incoming edges from {', '.join(preds)}: the symptom is where "
                         "reasoning starts", entry)

    reachable: set[str] = set()
    if entry is not None:
        reachable = {entry} | nx.descendants(g, entry)
        for n in g:
            if n not in reachable:
                err("unreachable", f"node {n} is not reachable from the entry {entry}", n)

    for n in fc.nodes_of(NodeKind.decision):
        out = list(g.successors(n))
        if len(out) < 2:
            err("decision", f"decision {n} has {len(out)} outgoing edge(s): a decision needs at least two "
                            "labelled branches (e.g. yes/no)", n)
        labels = []
        for v in out:
            cond = fc.condition(n, v)
            if not cond:
                err("decision", f"decision {n}: the edge to {v} has no label; label every branch, e.g. "
                                f"'{n} -- yes --> {v}'", n)
            else:
                labels.append(cond.strip().lower())
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            err("decision", f"decision {n}: branch label(s) {', '.join(map(repr, dup))} used more than once", n)

    conclusions = fc.nodes_of(NodeKind.conclusion)
    for n in conclusions:
        out = list(g.successors(n))
        if out:
            err("conclusion", f"conclusion {n} has outgoing edges (to {', '.join(out)}): a conclusion ends a "
                              "path; draw it as a check or action if reasoning goes on", n)
    if not conclusions:
        err("conclusion", "no conclusion node: add at least one, drawn as a circle, e.g. K1((Conclusion: ...))")
    elif entry is not None and not (set(conclusions) & reachable):
        err("conclusion", f"no conclusion is reachable from the entry {entry}", entry)

    if conclusions:
        can_conclude = set(conclusions)
        for c in conclusions:
            can_conclude |= nx.ancestors(g, c)
        for n in g:
            if n in reachable and n not in can_conclude:
                warn("dead-end", f"no conclusion can be reached from node {n} ({fc.kind(n).value}); paths through "
                                 "it yield no template", n)

    order = {n: i for i, n in enumerate(g)}
    for i, cyc in enumerate(nx.simple_cycles(g)):
        if i >= _MAX_CYCLES_REPORTED:
            warn("cycle", f"more than {_MAX_CYCLES_REPORTED} cycles; not all are listed")
            break
        start = min(range(len(cyc)), key=lambda j: order[cyc[j]])
        cyc = cyc[start:] + cyc[:start]
        warn("cycle", f"cycle {' -> '.join(cyc + [cyc[0]])} (allowed: templates walk it once)", cyc[0])
    return rep


def check(fc: Flowchart, *, source_name: str | None = None) -> ValidationReport:
    """Validate and raise :class:`FlowchartError` on errors; returns the report (warnings) otherwise."""
    rep = validate(fc)
    rep.raise_for_errors(source_name)
    return rep
