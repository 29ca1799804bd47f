"""Calling a predictor robustly: structured output first, a second adapter on a parse failure, raw text kept.

Small models break structured output often. A failure is not hidden: the raw text is kept and counted as a
format failure (its own metric), and the caller decides what a stage does without its output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dspy
from dspy.utils.exceptions import AdapterParseError

__all__ = ["StageResult", "call_predictor", "default_adapters"]


@dataclass
class StageResult:
    """The outcome of one stage: the prediction (or None), and what went wrong on the way."""

    prediction: Any = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    raw: str | None = None

    @property
    def ok(self) -> bool:
        return self.prediction is not None


def default_adapters() -> list[Any]:
    """The adapter chain: the user's adapter if one is set in ``dspy.context``; the compact adapter for an
    in-process model that decodes with the schema as a grammar (it always parses, and a second prompt format
    would only double the time), in the prompt layout the engine's weights were trained on; else JSON then chat."""
    from logreasoner.programs.compact import CompactAdapter
    from logreasoner.programs.profile import decodes_with_grammar

    configured = dspy.settings.adapter
    if configured is not None:
        return [configured]
    if decodes_with_grammar(dspy.settings.lm):
        layout = getattr(dspy.settings.lm.engine, "prompt_layout", None) or "compact"
        if layout == "json":  # a student trained on DSPy's JSON adapter (finetune's program.prompt = "json")
            return [dspy.JSONAdapter()]
        return [CompactAdapter(layout=layout)]
    return [dspy.JSONAdapter(), dspy.ChatAdapter(use_json_adapter_fallback=False)]


def call_predictor(predictor: Any, adapters: list[Any] | None = None, **kwargs: Any) -> StageResult:
    """Run ``predictor(**kwargs)`` under each adapter in turn until one parses."""
    result = StageResult()
    for adapter in adapters or default_adapters():
        result.attempts += 1
        try:
            with dspy.context(adapter=adapter):
                result.prediction = predictor(**kwargs)
            return result
        except AdapterParseError as e:
            result.raw = str(getattr(e, "lm_response", "") or "")
            result.errors.append(f"{type(adapter).__name__}: could not parse the model's output")
        except (ValueError, TypeError) as e:
            # pydantic validation of a typed output (e.g. a label outside the set) surfaces as ValueError
            result.errors.append(f"{type(adapter).__name__}: {str(e).splitlines()[0][:200]}")
    return result
