"""The coarse plan as a choice among the task's method paths, for small models that decode under a grammar.

The student learns to plan from experts that write one path of the task's method flowchart (every decision
answered) as a short plan: :func:`compact_plan` of a thought template whose flowchart is the task's
``method_flowchart``. Free text let a 135M student start such a plan and then loop or drift inside a string
(``"Decide: Is that signature known: yes: no: yes: a: ..."``). With the paths as the only answers the grammar
allows, the planner's output is always a plan an expert wrote, the model only chooses where the paths branch
(the decisions), and the schema drafts write the rest in batches.

A model that writes free text (a hosted model, the standard prompt) gets no choices: it plans in its own words.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from logreasoner.contracts.answers import Plan
from logreasoner.contracts.retrieval import DefaultRetriever
from logreasoner.programs.plan_text import compact_plan

__all__ = ["PLAN_FIELDS", "method_plan_choices", "plan_choice_schema", "plan_json"]

PLAN_FIELDS = ("problem_overview", "key_challenges", "reasoning_steps")


def method_plan_choices(task: Any, retriever: Any) -> list[Plan]:
    """The distinct short plans of the task's method flowchart (one per path), in the store's order.

    Empty when the task names no method flowchart, the retriever keeps no flowcharts (an in-memory retriever,
    ``None``) or the flowchart has no paths: the planner then writes its plan freely.
    """
    fid = getattr(task, "method_flowchart", None)
    if not fid or retriever is None:
        return []
    if isinstance(retriever, DefaultRetriever):
        retriever = retriever.resolve()
    templates = getattr(retriever, "templates", None)
    if not callable(templates):
        return []
    plans: dict[str, Plan] = {}
    for template in templates(flowchart_id=fid):
        plan = compact_plan(template)
        if plan.reasoning_steps:
            plans.setdefault(plan_json(plan), plan)
    return list(plans.values())


def plan_json(plan: Plan, fields: tuple[str, ...] = PLAN_FIELDS) -> str:
    """The plan as the compact adapter writes it (and the student was trained to): JSON, fields in order."""
    data = plan.model_dump()
    return json.dumps({k: data[k] for k in fields}, ensure_ascii=False)


def _strings(values: list[str]) -> dict:
    if not values:
        return {"type": "array", "maxItems": 0}
    return {"type": "array", "items": [{"type": "string", "const": v} for v in values],
            "minItems": len(values), "maxItems": len(values)}


def plan_choice_schema(schema: dict, choices: list[Plan]) -> dict:
    """The planner's output schema narrowed to ``choices``: one alternative per plan, every value a constant.

    A schema whose properties are not the plan's fields (another stage), or no choices, is returned unchanged.
    Each list is a tuple of constants (llama.cpp's grammar reads it as such; lm-format-enforcer through
    ``lm.schema.untuple_schema``).
    """
    props = schema.get("properties") or {}
    if not choices or set(props) != set(PLAN_FIELDS):
        return schema
    alternatives = []
    for plan in choices:
        alt = copy.deepcopy({k: v for k, v in schema.items() if k not in ("$defs", "title")})
        alt["properties"] = {
            "problem_overview": {"type": "string", "const": plan.problem_overview},
            "key_challenges": _strings(list(plan.key_challenges)),
            "reasoning_steps": _strings(list(plan.reasoning_steps)),
        }
        alternatives.append(alt)
    out: dict = {"anyOf": alternatives}
    if "$defs" in schema:
        out["$defs"] = copy.deepcopy(schema["$defs"])
    return out
