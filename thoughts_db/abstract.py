"""Abstract a raw analysis process into a thought template with a language model (DSPy).

The input is a concrete analysis: a troubleshooting flowchart drawn as text, or the rationale of a solved task
(what the engineer or a teacher model did on one log). The output is a :class:`ThoughtTemplate` of the paper's
shape with the instance details taken out. After the LM, a deterministic pass replaces instance details that
slipped through (IP addresses, hex values, block ids, long numbers, timestamps) with ``<*>``; for a flowchart,
each step's provenance is aligned to the chart nodes whose words it shares.

Library code never calls ``dspy.configure``: pass ``lm=`` or run under ``dspy.context(lm=...)``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import dspy

from logreasoner.errors import InputError
from logreasoner.contracts.retrieval import tokenize
from logreasoner.thoughts_db.graph import Flowchart, strip_kind_prefix
from logreasoner.thoughts_db.render import render_tree
from logreasoner.thoughts_db.templates import StepProvenance, ThoughtTemplate

__all__ = [
    "AbstractThought",
    "ThoughtAbstractor",
    "abstract_flowchart",
    "abstract_rationale",
    "scrub_instance_details",
    "align_provenance",
]


class AbstractThought(dspy.Signature):
    """Abstract a concrete log-analysis process into a high-level thought template that an experienced engineer
    could reuse on other problems of the same kind. Keep the approach, drop the instance: no host names, IP
    addresses, ids, timestamps or numbers taken from particular logs. Steps are short imperative sentences in the
    order an expert takes them."""

    analysis: str = dspy.InputField(
        desc="the analysis process: a troubleshooting flowchart drawn as text, or the rationale of a solved task"
    )
    task: str = dspy.InputField(desc="the log-analysis task the template serves, with its instruction")
    title: str = dspy.OutputField(desc="a short name for the kind of problem (at most 10 words)")
    problem_overview: str = dspy.OutputField(desc="one or two sentences: what kind of problem this is")
    key_challenges: list[str] = dspy.OutputField(desc="2-4 things that make this problem hard to get right")
    reasoning_steps: list[str] = dspy.OutputField(desc="3-8 abstract steps an expert takes, in order")


_DETAILS = [
    re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\b"),  # timestamps
    re.compile(r"\b\d{1,2}:\d{2}:\d{2}\b"),
    re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"),  # IPv4[:port]
    re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),  # uuid
    re.compile(r"\bblk_-?\d+\b"),  # HDFS block ids
    re.compile(r"\b0x[0-9a-f]+\b", re.I),  # hex values
    re.compile(r"\b\d{3,}\b"),  # long numbers
]


def scrub_instance_details(text: str) -> str:
    """Replace instance details (timestamps, IPs, uuids, block ids, hex, long numbers) with ``<*>``."""
    for rx in _DETAILS:
        text = rx.sub("<*>", text)
    return re.sub(r"(<\*>)(\s*<\*>)+", r"\1", text)


def align_provenance(fc: Flowchart, steps: list[str], *, min_overlap: float = 0.2) -> list[StepProvenance]:
    """For each step, the chart node(s) whose words overlap it most (Jaccard, at least ``min_overlap``)."""
    node_words = {n: set(tokenize(strip_kind_prefix(t))) for n, _k, t in fc.iter_nodes()}
    out = []
    for i, step in enumerate(steps):
        w = set(tokenize(strip_kind_prefix(step)))
        scores = {n: len(w & nw) / len(w | nw) for n, nw in node_words.items() if w and nw}
        best = max(scores.values(), default=0.0)
        nodes = [n for n, s in scores.items() if s == best] if best >= min_overlap else []
        out.append(StepProvenance(step=i, flowchart_id=fc.id, node_ids=nodes))
    return out


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        items = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", x) for x in v.splitlines()]
        return [x.strip() for x in items if x.strip()]
    return [str(x).strip() for x in v if str(x).strip()]


def _task_text(task: str | None) -> str:
    if not task:
        return "log analysis (any task)"
    from logreasoner.tasks import get_task

    t = get_task(task)
    return f"{t.name}: {t.description}"


class ThoughtAbstractor(dspy.Module):
    """``ThoughtAbstractor()(analysis=..., task=...)`` -> ``dspy.Prediction(template=ThoughtTemplate)``."""

    def __init__(self, *, lm: dspy.LM | None = None, scrub: bool = True) -> None:
        super().__init__()
        self.abstract = dspy.Predict(AbstractThought)
        self.lm_override = lm
        self.scrub = scrub

    def forward(
        self,
        analysis: str,
        task: str | None = None,
        *,
        template_id: str | None = None,
        source: str | None = None,
        flowchart: Flowchart | None = None,
        systems: list[str] | None = None,
        components: list[str] | None = None,
        keywords: list[str] | None = None,
    ) -> dspy.Prediction:
        if not (analysis or "").strip():
            raise InputError("nothing to abstract: the analysis text is empty", "pass a flowchart or a rationale")
        task_name = None
        if task:
            from logreasoner.tasks import get_task

            task_name = get_task(task).name
        if self.lm_override is not None:
            with dspy.context(lm=self.lm_override):
                pred = self.abstract(analysis=analysis, task=_task_text(task_name))
        else:
            pred = self.abstract(analysis=analysis, task=_task_text(task_name))
        clean = scrub_instance_details if self.scrub else (lambda s: s)
        steps = [clean(s) for s in _as_list(pred.reasoning_steps)]
        challenges = [clean(s) for s in _as_list(pred.key_challenges)]
        overview = clean(str(pred.problem_overview or "").strip())
        if not steps or not overview:
            raise InputError(
                "the model returned an empty template (no overview or no steps)",
                "use a stronger model, or check the model's raw output with dspy.inspect_history()",
            )
        digest = hashlib.sha1(analysis.encode("utf-8")).hexdigest()[:12]
        fc_meta = flowchart.meta if flowchart is not None else None
        template = ThoughtTemplate(
            id=template_id or (f"abstract:{flowchart.id}" if flowchart is not None else f"abstract:{digest}"),
            title=clean(str(pred.title or "").strip()) or (flowchart.title if flowchart is not None else ""),
            problem_overview=overview,
            key_challenges=challenges,
            reasoning_steps=steps,
            source=source or (flowchart.id if flowchart is not None else None),
            tasks=[task_name] if task_name else (list(fc_meta.tasks) if fc_meta else []),
            systems=list(systems if systems is not None else (fc_meta.systems if fc_meta else [])),
            components=list(components if components is not None else (fc_meta.components if fc_meta else [])),
            keywords=list(keywords if keywords is not None else (fc_meta.keywords if fc_meta else [])),
            flowchart_id=flowchart.id if flowchart is not None else None,
            provenance=align_provenance(flowchart, steps) if flowchart is not None else [],
            origin="abstracted",
        )
        return dspy.Prediction(template=template)


def abstract_flowchart(fc: Flowchart, *, task: str | None = None, lm: dspy.LM | None = None) -> ThoughtTemplate:
    """One LM-abstracted template for a whole flowchart (its text tree is the analysis)."""
    text = f"Troubleshooting flowchart: {fc.title}\n" + render_tree(fc, ascii_only=True)
    return ThoughtAbstractor(lm=lm)(analysis=text, task=task, flowchart=fc).template


def abstract_rationale(
    rationale: str, *, task: str, lm: dspy.LM | None = None, source: str | None = None, **tags: Any
) -> ThoughtTemplate:
    """A template from a solved task's rationale (e.g. a teacher model's reasoning on one example)."""
    return ThoughtAbstractor(lm=lm)(analysis=rationale, task=task, source=source, **tags).template
