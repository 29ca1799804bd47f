"""The coarse plan drawn from the task's method flowchart, for small models that decode under a grammar.

The student learns to plan from experts that write one path of the task's method flowchart (every decision
answered) as a short plan: :func:`compact_plan` of a thought template whose flowchart is the task's
``method_flowchart``. Free text let a 135M student start such a plan and then loop or drift inside a string
(``"Decide: Is that signature known: yes: no: yes: a: ..."``, or a step copied half from the retrieved plan).
Two ways to keep it on the method (:data:`PLAN_CHOICE_MODES`):

- ``"steps"`` (the default): every item is a step some path of the method has (a decision with its answer),
  in any order and number within the paths' lengths. The model still composes the plan; it cannot write a step
  the method does not have.
- ``"paths"``: the plan is one whole path, every value a constant; the model only chooses where the paths
  branch and the schema drafts write the rest. Measured on held-back BGL lines it decides worse (the first
  decision fixes the verdict before any step has looked at the line: benchmarks/STUDENT.md), so it is opt-in.

A model that writes free text (a hosted model, the standard prompt) gets no choices: it plans in its own words.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from logreasoner.contracts.answers import Plan
from logreasoner.contracts.retrieval import DefaultRetriever
from logreasoner.programs.plan_text import compact_plan

__all__ = ["PLAN_FIELDS", "PLAN_CHOICE_MODES", "PlanChoices", "check_plan_choice_mode", "method_templates",
           "method_plan_choices", "plan_choice_schema", "plan_json"]

PLAN_FIELDS = ("problem_overview", "key_challenges", "reasoning_steps")
PLAN_CHOICE_MODES = ("steps", "paths")


@dataclass(frozen=True)
class PlanChoices:
    """What a planner may answer: the method's short plans, and how they bind it (one of PLAN_CHOICE_MODES)."""

    plans: tuple[Plan, ...]
    mode: str = "steps"


def check_plan_choice_mode(mode: Any) -> str | None:
    """``mode`` as a PLAN_CHOICE_MODES entry (True = ``"steps"``), None for off (False/None); else a ConfigError."""
    if mode is True:
        return "steps"
    if mode is False or mode is None:
        return None
    if mode not in PLAN_CHOICE_MODES:
        from logreasoner.errors import ConfigError

        raise ConfigError(f"unknown plan_choices {mode!r}",
                          "use one of: " + ", ".join(PLAN_CHOICE_MODES) + ", or False to let the model plan freely")
    return mode


def method_templates(task: Any, retriever: Any) -> list[Any]:
    """The thought templates of the task's method flowchart (one per path) that ``retriever`` keeps: [] when the
    task names no method flowchart or the retriever keeps no flowcharts (an in-memory retriever, ``None``).
    The experts read the same templates (``finetune.expert_base.method_plans``)."""
    fid = getattr(task, "method_flowchart", None)
    if not fid or retriever is None:
        return []
    if isinstance(retriever, DefaultRetriever):
        retriever = retriever.resolve()
    templates = getattr(retriever, "templates", None)
    return list(templates(flowchart_id=fid)) if callable(templates) else []


def method_plan_choices(task: Any, retriever: Any) -> list[Plan]:
    """The distinct short plans of the task's method flowchart (one per path), in the store's order; [] when
    :func:`method_templates` finds none: the planner then writes its plan freely."""
    plans: dict[str, Plan] = {}
    for template in method_templates(task, retriever):
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


def plan_choice_schema(schema: dict, choices: PlanChoices | None) -> dict:
    """The planner's output schema narrowed to ``choices``.

    ``"steps"``: each field's items drawn from what the method's plans hold (enums), list lengths within theirs.
    ``"paths"``: one alternative per plan, every value a constant; each list a tuple of constants (llama.cpp's
    grammar reads it as such; lm-format-enforcer through ``lm.schema.untuple_schema``).
    A schema whose properties are not the plan's fields (another stage), or no choices, is returned unchanged.
    """
    plans, mode = (list(choices.plans), choices.mode) if choices is not None else ([], "steps")
    props = schema.get("properties") or {}
    if not plans or set(props) != set(PLAN_FIELDS):
        return schema
    if mode == "steps":
        out = copy.deepcopy(schema)
        out["properties"]["problem_overview"] = _one_of([p.problem_overview for p in plans])
        out["properties"]["key_challenges"] = _items_of([list(p.key_challenges) for p in plans])
        out["properties"]["reasoning_steps"] = _items_of([list(p.reasoning_steps) for p in plans])
        return out
    alternatives = []
    for plan in plans:
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


def _one_of(values: list[str]) -> dict:
    distinct = list(dict.fromkeys(values))
    return {"type": "string", "const": distinct[0]} if len(distinct) == 1 else {"type": "string", "enum": distinct}


def _items_of(lists: list[list[str]]) -> dict:
    """A list of strings drawn from ``lists``' items, as long as the shortest to the longest of them."""
    items = list(dict.fromkeys(x for values in lists for x in values))
    lo, hi = min(len(v) for v in lists), max(len(v) for v in lists)
    if not items or hi == 0:
        return {"type": "array", "maxItems": 0}
    return {"type": "array", "items": _one_of(items), "minItems": lo, "maxItems": hi}
