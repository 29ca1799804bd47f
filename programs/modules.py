"""The programs: coarse planner, step reasoner, the composed LogReasoner, and the baselines.

One program object serves the three uses — run, evaluate, distil: the evals score it, the finetune package
formats its training data with the same predictors and adapter, the CLI and agents call it.
"""

from __future__ import annotations

from typing import Any

import dspy

from logreasoner.logs.excerpt import LogExcerpt, build_excerpt
from logreasoner.contracts.answers import Plan, StepResult
from logreasoner.programs.calling import call_predictor
from logreasoner.programs.compact import PLAN_CHOICES_KEY
from logreasoner.programs.hygiene import clean_outputs, echoes_marker
from logreasoner.programs.plan_choices import PlanChoices, check_plan_choice_mode, method_plan_choices
from logreasoner.programs.plan_text import render_plans_compact
from logreasoner.programs.profile import PromptProfile, active_profile
from logreasoner.contracts.retrieval import DefaultRetriever, ExpertPlan, Retriever, render_plans
from logreasoner.programs.signatures import coarse_plan_signature, direct_signature, step_signature
from logreasoner.tasks import Task, get_task

__all__ = ["CoarsePlanner", "StepReasoner", "LogReasoner", "DirectAnswer", "ChainOfThoughtAnswer", "as_excerpt"]

DEFAULT_RETRIEVER: Retriever = DefaultRetriever()  # stands for the installed default until the first query


def as_excerpt(log: Any = None, *, path: str | None = None, max_templates: int = 40, max_chars: int = 6000,
               group: bool = True, numbered: bool = True) -> LogExcerpt:
    """Accept raw text, a list of LogLines, a path, or a ready LogExcerpt."""
    if isinstance(log, LogExcerpt):
        return log
    return build_excerpt(log, path=path, max_templates=max_templates, max_chars=max_chars, group=group,
                         numbered=numbered)


def _answer_sig(sig: Any, task: Task, labels: Any) -> Any:
    model = task.answer_model(labels)
    return sig if model is sig.output_fields["answer"].annotation else sig.with_updated_fields("answer", type_=model)


class CoarsePlanner(dspy.Module):
    """Log excerpt + question + expert plans -> a coarse, reusable plan (:class:`Plan`)."""

    def __init__(self, task: str | Task = "anomaly") -> None:
        super().__init__()
        self.task = get_task(task)
        self.predict = dspy.Predict(coarse_plan_signature(self.task.description))

    def forward(self, log_excerpt: str, question: str = "", expert_plans: str = "",
                choices: PlanChoices | None = None) -> dspy.Prediction:
        """``choices``: what a grammar-constrained model may plan with (the steps or paths of the task's method,
        :mod:`~logreasoner.programs.plan_choices`); a model asked with the standard prompt writes its own plan."""
        extra = {}
        if choices is not None and choices.plans and active_profile().plan_choices:
            extra["config"] = {PLAN_CHOICES_KEY: choices}
        r = call_predictor(self.predict, question=question or "", log_excerpt=log_excerpt, expert_plans=expert_plans,
                           **extra)
        plan = None
        if r.ok:
            p = r.prediction
            plan = Plan(problem_overview=str(p.problem_overview or ""),
                        key_challenges=[str(x) for x in (p.key_challenges or [])],
                        reasoning_steps=[str(x) for x in (p.reasoning_steps or [])])
        return dspy.Prediction(plan=plan, format_error="; ".join(r.errors) if not r.ok else None, raw=r.raw,
                               attempts=r.attempts)


class StepReasoner(dspy.Module):
    """Plan + log excerpt -> steps instantiated on the lines (evidence by line number) -> typed answer."""

    def __init__(self, task: str | Task = "anomaly") -> None:
        super().__init__()
        self.task = get_task(task)
        self.predict = dspy.Predict(step_signature(self.task.description, self.task.answer_type))

    def forward(self, log_excerpt: str, plan: str, question: str = "", labels: list[str] | None = None) -> dspy.Prediction:
        sig = _answer_sig(self.predict.signature, self.task, labels)
        r = call_predictor(self.predict, question=question or "", log_excerpt=log_excerpt, plan=plan, signature=sig)
        if not r.ok:
            return dspy.Prediction(steps=[], answer=None, format_error="; ".join(r.errors), raw=r.raw,
                                   attempts=r.attempts)
        steps = [s if isinstance(s, StepResult) else StepResult.model_validate(s) for s in (r.prediction.steps or [])]
        return dspy.Prediction(steps=steps, answer=r.prediction.answer, format_error=None, raw=None, attempts=r.attempts)


class _ExcerptMixin:
    max_templates: int
    max_chars: int
    group: bool

    async def aforward(self, *args: Any, **kwargs: Any) -> dspy.Prediction:
        """``await program.acall(...)``: runs ``forward`` in a worker thread (DSPy's context goes with it), so
        many analyses can be awaited together; in-process engines serialise on their own lock."""
        import asyncio

        return await asyncio.to_thread(self.forward, *args, **kwargs)

    def _profile(self) -> PromptProfile:
        """The prompt profile of the model that answers (the step stage's own LM when it has one)."""
        return active_profile(getattr(self, "step_lm", None))

    def _excerpt(self, log: Any, path: str | None) -> LogExcerpt:
        line_task = getattr(self, "task", None) is not None and self.task.input_kind == "line"
        profile = self._profile()
        return as_excerpt(log, path=path, max_templates=min(self.max_templates, profile.max_templates),
                          max_chars=min(self.max_chars, profile.excerpt_chars),
                          group=self.group and not line_task, numbered=not line_task)


def _shown(excerpt: LogExcerpt) -> set[int] | None:
    """Line numbers a model may cite (None when the excerpt keeps no index, e.g. several sources)."""
    return set(excerpt.line_index) if excerpt.line_index else None


class LogReasoner(_ExcerptMixin, dspy.Module):
    """Retrieve expert plans -> coarse plan -> fine steps -> typed answer, in one composable module.

    Every stage is a constructor argument: the retriever defaults to the installed one (the shipped thought store,
    opened on the first query), ``retriever=None`` turns retrieval off, ``planner=``/``step_reasoner=``
    take your own modules, and ``planner_lm=``/``step_lm=`` run a stage on another model (e.g. a strong planner
    and a small local step reasoner). With a grammar-constrained model (the compact prompt) the coarse plan's
    items are steps of the task's method flowchart (``plan_choices="steps"``; ``"paths"``: one whole path, the
    model choosing only its decisions; ``False``: free text; ``programs.plan_choices``).

    Call it as ``program(log=text_or_lines, question=..., labels=[...])`` (or ``path=``). The prediction holds
    ``answer`` (the task's pydantic answer, or None on a format failure), ``plan``, ``steps``, ``expert_plans``,
    ``evidence`` (the real lines cited), ``excerpt``, ``format_error`` and ``raw``.
    """

    def __init__(
        self,
        task: str | Task = "anomaly",
        *,
        retriever: Retriever | None = DEFAULT_RETRIEVER,
        planner: dspy.Module | None = None,
        step_reasoner: dspy.Module | None = None,
        planner_lm: Any = None,
        step_lm: Any = None,
        k: int = 3,
        max_templates: int = 40,
        max_chars: int = 6000,
        group: bool = True,
        plan_choices: str | bool | None = "steps",
    ) -> None:
        super().__init__()
        self.task = get_task(task)
        self.retriever = retriever
        self.plan_choices = check_plan_choice_mode(plan_choices)
        self.planner = planner or CoarsePlanner(self.task)
        self.step_reasoner = step_reasoner or StepReasoner(self.task)
        self.planner_lm, self.step_lm = planner_lm, step_lm
        self.k, self.max_templates, self.max_chars, self.group = k, max_templates, max_chars, group

    def retrieve(self, excerpt: LogExcerpt, question: str | None, k: int | None = None) -> list[ExpertPlan]:
        k = self.k if k is None else min(k, self.k)
        if self.retriever is None or k <= 0:
            return []
        query = f"{question or ''}\n{self.task.description}\n" + "\n".join(g.first.text for g in excerpt.shown[:30])
        return list(self.retriever.retrieve(query, task=self.task.name, k=k))

    def _plan_choices(self) -> PlanChoices:
        """The method's plans, read from the store once per program (not on every answer)."""
        cached = getattr(self, "_choices_cache", None)
        if cached is None or cached.mode != self.plan_choices:
            cached = PlanChoices(tuple(method_plan_choices(self.task, self.retriever)), self.plan_choices)
            self._choices_cache = cached
        return cached

    @staticmethod
    def render_expert_plans(plans: list[ExpertPlan], profile: PromptProfile) -> str:
        """The expert plans as the planner reads them: condensed for the compact profile, in full otherwise."""
        return render_plans_compact(plans, k=profile.plans) if profile.compact_plans else render_plans(plans)

    def forward(self, log: Any = None, question: str | None = None, labels: list[str] | None = None,
                path: str | None = None) -> dspy.Prediction:
        excerpt = self._excerpt(log, path)
        profile = self._profile()
        plans = self.retrieve(excerpt, question, k=profile.plans)
        with dspy.context(**({"lm": self.planner_lm} if self.planner_lm else {})):
            extra = {}
            if self.plan_choices and isinstance(self.planner, CoarsePlanner) and active_profile().plan_choices:
                extra["choices"] = self._plan_choices()
            coarse = self.planner(log_excerpt=excerpt.text, question=question or "",
                                  expert_plans=self.render_expert_plans(plans, profile), **extra)
        errors = []
        plan = coarse.plan
        if plan is None:
            errors.append(f"planner: {coarse.format_error}")
            # fall back on the best expert plan so the fine stage still has a method to follow
            best = plans[0] if plans else None
            plan = Plan(problem_overview=best.problem_overview if best else "",
                        key_challenges=list(best.key_challenges) if best else [],
                        reasoning_steps=list(best.reasoning_steps) if best else [])
        with dspy.context(**({"lm": self.step_lm} if self.step_lm else {})):
            fine = self.step_reasoner(log_excerpt=excerpt.text, plan=plan.render(), question=question or "",
                                      labels=labels)
        if fine.answer is None:
            errors.append(f"step reasoner: {fine.format_error}")
        raw_cited = {n for s in fine.steps for n in s.evidence_lines} | set(
            getattr(fine.answer, "evidence_lines", None) or [])
        plan, steps, answer, degenerate = clean_outputs(plan=plan, steps=fine.steps, answer=fine.answer,
                                                        shown=_shown(excerpt))
        cited = sorted({n for s in steps for n in s.evidence_lines} |
                       set(getattr(answer, "evidence_lines", None) or []))
        return dspy.Prediction(
            answer=answer, plan=plan, steps=steps, expert_plans=plans, excerpt=excerpt.text,
            evidence=excerpt.evidence(cited),
            invented_lines=sorted(n for n in raw_cited if n not in excerpt.line_index),
            format_error="; ".join(errors) or None, raw=fine.raw or coarse.raw,
            plan_format_error=coarse.format_error, task=self.task.name, degenerate=degenerate,
            prompt_profile=profile.name,
        )


class DirectAnswer(_ExcerptMixin, dspy.Module):
    """Baseline: the typed answer straight from the excerpt (``dspy.Predict``)."""

    predictor_cls: Any = dspy.Predict

    def __init__(self, task: str | Task = "anomaly", *, max_templates: int = 40, max_chars: int = 6000,
                 group: bool = True) -> None:
        super().__init__()
        self.task = get_task(task)
        self.predict = self.predictor_cls(direct_signature(self.task.description, self.task.answer_type))
        self.max_templates, self.max_chars, self.group = max_templates, max_chars, group

    def forward(self, log: Any = None, question: str | None = None, labels: list[str] | None = None,
                path: str | None = None) -> dspy.Prediction:
        excerpt = self._excerpt(log, path)
        base = self.predict.predict.signature if hasattr(self.predict, "predict") else self.predict.signature
        sig = _answer_sig(base, self.task, labels)
        if hasattr(self.predict, "predict"):  # ChainOfThought wraps a Predict and prepends `reasoning`
            sig = sig.prepend("reasoning", dspy.OutputField(desc="Let's think step by step."), type_=str) \
                if "reasoning" not in sig.output_fields else sig
        r = call_predictor(self.predict.predict if hasattr(self.predict, "predict") else self.predict,
                           question=question or "", log_excerpt=excerpt.text, signature=sig)
        answer = r.prediction.answer if r.ok else None
        raw_cited = list(getattr(answer, "evidence_lines", None) or [])
        _, _, answer, degenerate = clean_outputs(answer=answer, shown=_shown(excerpt))
        reasoning = getattr(r.prediction, "reasoning", None) if r.ok else None
        if reasoning is not None and echoes_marker(reasoning):
            degenerate = sorted(set(degenerate) | {"marker_echo"})
        cited = list(getattr(answer, "evidence_lines", None) or [])
        return dspy.Prediction(
            answer=answer, reasoning=reasoning,
            excerpt=excerpt.text, evidence=excerpt.evidence(cited), plan=None, steps=[], expert_plans=[],
            invented_lines=sorted({n for n in raw_cited if n not in excerpt.line_index}),
            format_error="; ".join(r.errors) if not r.ok else None, raw=r.raw, task=self.task.name,
            degenerate=degenerate, prompt_profile=self._profile().name,
        )


class ChainOfThoughtAnswer(DirectAnswer):
    """Baseline: ``dspy.ChainOfThought`` reasoning, then the typed answer."""

    predictor_cls = dspy.ChainOfThought
