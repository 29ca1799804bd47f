"""Flowchart -> high-level thought templates, deterministically.

One template per simple path from the symptom to a conclusion (capped per flowchart, shortest paths of every
conclusion first). A template has the paper's shape:

- ``problem_overview``: what the problem is (title, systems, symptom) and what this line of reasoning
  establishes (the conclusion);
- ``key_challenges``: the decisions on the path, each with its possible branches;
- ``reasoning_steps``: the checks, decisions (with the branch taken) and actions on the path, then the
  conclusion.

Each step records its provenance (flowchart id and node ids), and the template id names the path
(``<flowchart id>:<node>-<node>-...``), so ids are stable while the path exists. A long path is named by its
start and a hash of the whole path instead, so an id never grows with the chart (ids repeat in every provenance
row: a path-long id made the store grow with the square of the chart's length).
"""

from __future__ import annotations

import hashlib
import json
from itertools import islice
from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, Field

from logreasoner.contracts.retrieval import ExpertPlan
from logreasoner.thoughts_db.graph import Flowchart, NodeKind, strip_kind_prefix
from logreasoner.thoughts_db.validate import check

__all__ = ["StepProvenance", "ThoughtTemplate", "flowchart_to_plans", "flowchart_paths", "template_text",
           "row_text", "template_id"]

DEFAULT_MAX_PATHS = 16
MAX_ID_PATH_CHARS = 64


def template_id(flowchart_id: str, path: list[str]) -> str:
    """``<chart>:<node>-<node>-...`` for a short path, ``<chart>:<first nodes>~<hash of the path>`` for a long one
    (at most ``MAX_ID_PATH_CHARS`` + 17 characters after the chart id)."""
    joined = "-".join(path)
    if len(joined) <= MAX_ID_PATH_CHARS:
        return f"{flowchart_id}:{joined}"
    digest = hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]
    return f"{flowchart_id}:{joined[:MAX_ID_PATH_CHARS - 16]}~{digest}"


class StepProvenance(BaseModel):
    """Where one reasoning step came from."""

    step: int = Field(description="index into reasoning_steps (0-based)")
    flowchart_id: str
    node_ids: list[str]


class ThoughtTemplate(ExpertPlan):
    """An :class:`ExpertPlan` with what the store keeps about it: tags, origin and provenance."""

    tasks: list[str] = Field(default_factory=list)
    systems: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    flowchart_id: str | None = None
    node_path: list[str] = Field(default_factory=list)
    provenance: list[StepProvenance] = Field(default_factory=list)
    origin: Literal["flowchart", "abstracted", "manual"] = "flowchart"

    def model_post_init(self, _ctx: object) -> None:
        if not self.tags:
            self.tags = (
                [f"task:{t}" for t in self.tasks]
                + [f"system:{s}" for s in self.systems]
                + [f"component:{c}" for c in self.components]
            )
        if self.task is None and self.tasks:
            self.task = self.tasks[0]

    def as_plan(self, *, task: str | None = None, score: float | None = None) -> "ThoughtTemplate":
        upd: dict = {}
        if task is not None:
            upd["task"] = task
        if score is not None:
            upd["score"] = score
        return self.model_copy(update=upd)


def template_text(t: ExpertPlan) -> str:
    """The text a template is searched and embedded by."""
    parts = [t.title, t.problem_overview, " ".join(t.key_challenges), " ".join(t.reasoning_steps)]
    if isinstance(t, ThoughtTemplate):
        parts += [" ".join(t.systems), " ".join(t.components), " ".join(t.keywords)]
    return "\n".join(p for p in parts if p)


def row_text(row: dict[str, Any]) -> str:
    """The text a stored template (a ``templates`` row) is embedded by (same parts as :func:`template_text`)."""
    parts = [
        row.get("title") or "",
        row.get("problem_overview") or "",
        " ".join(json.loads(row.get("key_challenges") or "[]")),
        " ".join(json.loads(row.get("reasoning_steps") or "[]")),
        row.get("search_text") or "",
    ]
    return "\n".join(p for p in parts if p)


def flowchart_paths(fc: Flowchart, *, max_paths: int = DEFAULT_MAX_PATHS) -> list[list[str]]:
    """Simple paths from the entry to each conclusion: every conclusion's shortest path first, then longer
    ones, in a deterministic order, at most ``max_paths``."""
    entry = fc.entry
    if entry is None:
        return []
    order = {n: i for i, n in enumerate(fc.graph)}
    per_conclusion: list[list[list[str]]] = []
    for c in fc.nodes_of(NodeKind.conclusion):
        if c != entry and not nx.has_path(fc.graph, entry, c):
            continue
        paths = list(islice(nx.shortest_simple_paths(fc.graph, entry, c), max_paths))
        paths.sort(key=lambda p: (len(p), [order[n] for n in p]))
        per_conclusion.append(paths)
    out: list[list[str]] = []
    depth = 0
    while len(out) < max_paths and any(depth < len(ps) for ps in per_conclusion):
        for ps in per_conclusion:
            if depth < len(ps) and len(out) < max_paths:
                out.append(ps[depth])
        depth += 1
    return out


def _sentence(s: str) -> str:
    s = s.strip()
    return s if not s or s[-1] in ".?!" else s + "."


def _path_template(fc: Flowchart, path: list[str]) -> ThoughtTemplate:
    g = fc.graph
    m = fc.meta
    symptom = strip_kind_prefix(fc.text(path[0]))
    conclusion = strip_kind_prefix(fc.text(path[-1]))
    scope = ", ".join(m.systems) if m.systems else "the system"
    if m.components:
        scope += f" ({', '.join(m.components)})"
    overview = (
        f"{_sentence(fc.title)} Applies to {scope}. Symptom: {_sentence(symptom)} "
        f"This line of reasoning establishes: {_sentence(conclusion)}"
    )
    steps: list[str] = []
    prov: list[StepProvenance] = []
    challenges: list[str] = []
    for i, node in enumerate(path[1:], start=1):
        kind = fc.kind(node)
        text = strip_kind_prefix(fc.text(node))
        nxt = path[i + 1] if i + 1 < len(path) else None
        if kind is NodeKind.check:
            step = f"Check: {text}"
        elif kind is NodeKind.decision:
            taken = fc.condition(node, nxt) if nxt else None
            branches = [fc.condition(node, v) or "?" for v in g.successors(node)]
            challenges.append(f"{text} (branches: {' / '.join(branches)})")
            step = f"Decide: {text} -> {taken}" if taken else f"Decide: {text}"
        elif kind is NodeKind.action:
            step = f"Act: {text}"
        elif kind is NodeKind.conclusion:
            step = f"Conclude: {text}"
        else:  # a second symptom in an invalid chart: keep it as a check
            step = f"Check: {text}"
        prov.append(StepProvenance(step=len(steps), flowchart_id=fc.id, node_ids=[node]))
        steps.append(step)
    if not challenges:
        checks = [strip_kind_prefix(fc.text(n)) for n in path if fc.kind(n) is NodeKind.check]
        challenges = [f"Finding the evidence: {checks[0]}" if checks else f"Recognising the symptom: {symptom}"]
    return ThoughtTemplate(
        id=template_id(fc.id, path),
        title=f"{fc.title}: {conclusion}",
        problem_overview=overview,
        key_challenges=challenges,
        reasoning_steps=steps,
        source=fc.id,
        tasks=list(m.tasks),
        systems=list(m.systems),
        components=list(m.components),
        keywords=list(m.keywords),
        flowchart_id=fc.id,
        node_path=list(path),
        provenance=prov,
        origin="flowchart",
    )


def flowchart_to_plans(fc: Flowchart, *, max_paths: int = DEFAULT_MAX_PATHS, strict: bool = True) -> list[ThoughtTemplate]:
    """Thought templates of a flowchart, one per entry-to-conclusion path (deterministic).

    With ``strict`` (the default) an invalid chart raises :class:`FlowchartError`.
    """
    if strict:
        check(fc)
    return [_path_template(fc, p) for p in flowchart_paths(fc, max_paths=max_paths)]
