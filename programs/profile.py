"""Prompt profiles: how much a program shows the model, chosen by the model that answers.

A capable hosted model gets the standard profile (JSON/chat adapters, a 6,000-character excerpt, three expert
plans in full). A small in-process model that decodes with the output schema as a grammar gets the compact
profile (:class:`~logreasoner.programs.compact.CompactAdapter`, a shorter excerpt, one condensed expert plan):
its prompt is several times shorter, which is what makes it fast on a CPU and trainable. The profile is read
at call time from ``dspy.settings`` (the adapter if one is set, else the LM), so one program object serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PromptProfile", "STANDARD", "COMPACT", "active_profile", "decodes_with_grammar"]


@dataclass(frozen=True)
class PromptProfile:
    """What a program shows the model.

    Attributes:
        name: ``"standard"`` or ``"compact"``.
        excerpt_chars: characters of log excerpt at most (a program's own smaller ``max_chars`` wins).
        max_templates: templates shown at most (a program's own smaller ``max_templates`` wins).
        plans: expert plans shown to the planner at most.
        compact_plans: render expert plans condensed (title + short steps) instead of in full.
        plan_choices: the coarse plan is one path of the task's method flowchart, chosen under the grammar
            (``programs.plan_choices``), rather than free text.
    """

    name: str
    excerpt_chars: int
    max_templates: int
    plans: int
    compact_plans: bool
    plan_choices: bool = False


STANDARD = PromptProfile("standard", excerpt_chars=6000, max_templates=40, plans=3, compact_plans=False)
COMPACT = PromptProfile("compact", excerpt_chars=1800, max_templates=24, plans=1, compact_plans=True,
                        plan_choices=True)


def decodes_with_grammar(lm: Any) -> bool:
    """True for an in-process engine that constrains decoding to the output schema (``--model local``)."""
    from logreasoner.lm.engine_base import LocalEngine

    engine = getattr(lm, "engine", None)
    return isinstance(engine, LocalEngine) and bool(getattr(engine, "constrained", False))


def active_profile(lm: Any = None) -> PromptProfile:
    """The profile for the current call: the adapter set in ``dspy.context`` decides (compact for
    :class:`CompactAdapter`), else the LM (``lm`` or the one in ``dspy.context``)."""
    import dspy

    from logreasoner.programs.compact import CompactAdapter

    adapter = dspy.settings.adapter
    if adapter is not None:
        return COMPACT if isinstance(adapter, CompactAdapter) else STANDARD
    return COMPACT if decodes_with_grammar(lm if lm is not None else dspy.settings.lm) else STANDARD
