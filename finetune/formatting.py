"""Training conversations formatted exactly as the program prompts the model at run time.

The messages come from the program's own predictors and signatures, rendered by the adapter the student is
asked with at run time (:func:`adapter_for`: the compact adapter for a grammar-constrained in-process student,
the default; ``program.prompt = "json"`` keeps DSPy's JSON adapter): the excerpt is built and the expert plans
are retrieved by the same program object under that adapter's prompt profile, the step signature is narrowed to
the example's label set as :class:`StepReasoner` does. The assistant turn is the JSON object the adapter parses,
fields in the signature's order (the order the constrained decoder's grammar enforces), written compactly.
"""

from __future__ import annotations

import json
from typing import Any

import dspy
from pydantic import BaseModel

from logreasoner.contracts.answers import Plan

__all__ = [
    "adapter_for",
    "direct_messages",
    "direct_conversation",
    "make_program",
    "program_context",
    "planner_messages",
    "step_signature_for",
    "step_messages",
    "assistant_json",
    "thought_conversation",
    "stepwise_conversation",
]


def make_program(task: Any, program_cfg: Any = None, **kwargs: Any) -> Any:
    """The program a run distils, evaluates and runs (``build_program`` with the run's program settings)."""
    from logreasoner.programs.kinds import build_program, program_kind

    kind = getattr(program_cfg, "kind", "coarse_to_fine")
    opts: dict[str, Any] = {}
    if program_cfg is not None:
        opts.update(k=program_cfg.k, max_templates=program_cfg.max_templates, max_chars=program_cfg.max_chars)
        if program_cfg.retriever == "builtin":
            from logreasoner.programs import InMemoryRetriever, builtin_plans

            opts["retriever"] = InMemoryRetriever(builtin_plans())
        elif program_cfg.retriever == "none":
            opts["retriever"] = None
    if program_kind(kind) == "coarse_to_fine_noretrieval":
        opts.pop("retriever", None)
    opts.update(kwargs)
    program = build_program(kind, task, **opts)
    if not hasattr(program, "planner") or not hasattr(program, "step_reasoner"):
        from logreasoner.errors import ConfigError

        raise ConfigError(f"program kind {kind!r} has no planner and step reasoner to distil",
                          "use program.kind = 'coarse_to_fine' (or 'coarse_to_fine_noretrieval')")
    return program


def adapter_for(program_cfg: Any = None) -> Any:
    """The adapter the student is prompted with (and its training rows rendered with): ``program.prompt``."""
    prompt = getattr(program_cfg, "prompt", "compact")
    if prompt == "json":
        return dspy.JSONAdapter()
    from logreasoner.programs.compact import CompactAdapter

    return CompactAdapter(layout=prompt)


def program_context(program: Any, log: Any, question: str | None, adapter: Any = None) -> tuple[Any, str]:
    """(excerpt, rendered expert plans) exactly as ``program.forward`` computes them under ``adapter``'s
    prompt profile."""
    with dspy.context(adapter=adapter or adapter_for(None)):
        excerpt = program._excerpt(log, None)
        profile = program._profile()
        plans = program.retrieve(excerpt, question, k=profile.plans)
        return excerpt, program.render_expert_plans(plans, profile)


def _demos(predictor: Any) -> list:
    return list(getattr(predictor, "demos", None) or [])


def planner_messages(program: Any, *, excerpt_text: str, expert_plans: str, question: str | None,
                     adapter: Any = None) -> list[dict]:
    pred = program.planner.predict
    return (adapter or adapter_for(None)).format(pred.signature, demos=_demos(pred), inputs={
        "question": question or "", "log_excerpt": excerpt_text, "expert_plans": expert_plans})


def step_signature_for(program: Any, labels: list[str] | None) -> Any:
    """The step reasoner's signature with the answer narrowed to ``labels`` (as StepReasoner.forward does)."""
    from logreasoner.programs.modules import _answer_sig

    return _answer_sig(program.step_reasoner.predict.signature, program.step_reasoner.task, labels)


def step_messages(program: Any, *, excerpt_text: str, plan: Plan | str, question: str | None,
                  labels: list[str] | None, adapter: Any = None) -> list[dict]:
    sig = step_signature_for(program, labels)
    plan_text = plan.render() if isinstance(plan, Plan) else str(plan)
    return (adapter or adapter_for(None)).format(sig, demos=_demos(program.step_reasoner.predict), inputs={
        "question": question or "", "log_excerpt": excerpt_text, "plan": plan_text})


def direct_signature_for(program: Any, labels: list[str] | None, reasoning: bool = False) -> Any:
    """The direct (``reasoning=False``) or chain-of-thought baseline's signature, narrowed as at run time."""
    from logreasoner.programs.modules import _answer_sig

    base = program.predict.predict.signature if hasattr(program.predict, "predict") else program.predict.signature
    sig = _answer_sig(base, program.task, labels)
    if reasoning and "reasoning" not in sig.output_fields:
        sig = sig.prepend("reasoning", dspy.OutputField(desc="Let's think step by step."), type_=str)
    return sig


def direct_messages(program: Any, *, excerpt_text: str, question: str | None, labels: list[str] | None,
                    reasoning: bool = False, adapter: Any = None) -> list[dict]:
    sig = direct_signature_for(program, labels, reasoning)
    pred = program.predict.predict if hasattr(program.predict, "predict") else program.predict
    return (adapter or adapter_for(None)).format(sig, demos=_demos(pred), inputs={
        "question": question or "", "log_excerpt": excerpt_text})


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def assistant_json(signature: Any, outputs: dict[str, Any]) -> str:
    """The assistant turn: one JSON object with the signature's output fields, in order, validated by the
    adapter's own parser (so a sample that would not parse at run time never becomes training data)."""
    missing = [k for k in signature.output_fields if k not in outputs]
    if missing:
        raise ValueError(f"outputs lack {missing}")
    text = json.dumps({k: _plain(outputs[k]) for k in signature.output_fields}, ensure_ascii=False)
    dspy.JSONAdapter().parse(signature, text)  # raises if the run-time parser would reject it
    return text


def thought_conversation(program: Any, *, excerpt_text: str, expert_plans: str, question: str | None,
                         plan: Plan, adapter: Any = None) -> list[dict]:
    """log problem -> coarse plan, as the planner is prompted."""
    msgs = planner_messages(program, excerpt_text=excerpt_text, expert_plans=expert_plans, question=question,
                            adapter=adapter)
    content = assistant_json(program.planner.predict.signature, plan.model_dump())
    return msgs + [{"role": "assistant", "content": content}]


def stepwise_conversation(program: Any, *, excerpt_text: str, plan: Plan, question: str | None,
                          labels: list[str] | None, steps: list[Any], answer: Any, adapter: Any = None) -> list[dict]:
    """problem + plan -> instantiated steps -> answer, as the step reasoner is prompted."""
    msgs = step_messages(program, excerpt_text=excerpt_text, plan=plan, question=question, labels=labels,
                         adapter=adapter)
    content = assistant_json(step_signature_for(program, labels), {"steps": steps, "answer": answer})
    return msgs + [{"role": "assistant", "content": content}]


def direct_conversation(program: Any, *, excerpt_text: str, question: str | None, labels: list[str] | None,
                        answer: Any, reasoning: str | None = None, adapter: Any = None) -> list[dict]:
    """log problem -> typed answer (the direct baseline), or -> reasoning -> answer (chain of thought)."""
    cot = reasoning is not None
    msgs = direct_messages(program, excerpt_text=excerpt_text, question=question, labels=labels, reasoning=cot,
                           adapter=adapter)
    outputs = {"answer": answer, **({"reasoning": reasoning} if cot else {})}
    content = assistant_json(direct_signature_for(program, labels, cot), outputs)
    return msgs + [{"role": "assistant", "content": content}]
