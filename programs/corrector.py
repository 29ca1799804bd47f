"""The corrector: given a problem, a wrong stepwise solution and the gold answer, find the first wrong step and
rewrite the solution from there (the paper's correction of a student's mistakes, by a teacher or by the student
itself given the gold answer).

The corrected solution keeps the student's steps before the first wrong one, so a preference pair (corrected
over wrong) differs only where the student went wrong.
"""

from __future__ import annotations

import json
from typing import Any

import dspy
from pydantic import BaseModel

from logreasoner.contracts.answers import StepResult
from logreasoner.programs.calling import call_predictor
from logreasoner.programs.signatures import LOG_DESC
from logreasoner.tasks import Task, get_task

__all__ = ["Corrector", "corrector_signature", "render_solution"]


def corrector_signature(task_description: str, answer_type: type[BaseModel]) -> type[dspy.Signature]:
    """problem + wrong solution + gold answer -> first wrong step, rewritten steps from there, final answer."""
    instructions = (
        "A student solved a log-analysis task step by step and got it wrong. You are given the correct final "
        "answer. Find the first step of the student's solution that is wrong (its number, counting from 1; "
        "the number of steps + 1 if every step is right and only the final answer is wrong), then rewrite the "
        "solution from that step on so that it reaches the correct answer by sound reasoning on the log lines: "
        "state concrete values and cite line numbers. Do not mention that the answer was given to you. "
        f"Task: {task_description}"
    )
    return dspy.Signature(
        {
            "question": (str, dspy.InputField(desc="what the user asks (may be empty)")),
            "log_excerpt": (str, dspy.InputField(desc=LOG_DESC)),
            "plan": (str, dspy.InputField(desc="the coarse plan the student carried out")),
            "wrong_solution": (str, dspy.InputField(desc="the student's steps and answer, as JSON")),
            "gold_answer": (str, dspy.InputField(desc="the correct final answer")),
            "first_wrong_step": (int, dspy.OutputField(desc="number of the first wrong step, counting from 1")),
            "corrected_steps": (list[StepResult], dspy.OutputField(desc="the steps rewritten from the first wrong one on")),
            "answer": (answer_type, dspy.OutputField(desc="the final typed answer, equal to the correct one")),
        },
        instructions,
    )


def render_solution(steps: list[Any] | None, answer: Any, raw: str | None = None) -> str:
    """The student's solution as the JSON the step reasoner writes (its raw text when it did not parse)."""
    if steps is None and answer is None:
        return raw or "(no parsable output)"
    data = {
        "steps": [s.model_dump() if isinstance(s, BaseModel) else s for s in (steps or [])],
        "answer": answer.model_dump() if isinstance(answer, BaseModel) else answer,
    }
    return json.dumps(data, ensure_ascii=False)


class Corrector(dspy.Module):
    """Rewrite a wrong stepwise solution from its first wrong step, given the gold answer.

    ``constrain_gold=True`` narrows the answer type to the gold label (tasks answered with one label of a set,
    e.g. anomaly verdicts or fault types): a small self-correcting model then cannot drift off the gold answer
    and spends its effort on the steps. Call it as ``corrector(log_excerpt=..., plan=..., wrong_steps=[...],
    wrong_answer=..., gold=..., question=..., labels=...)``; the prediction holds ``steps`` (the student's
    steps before the first wrong one, then the rewritten ones), ``answer``, ``first_wrong_step``,
    ``format_error`` and ``raw``.
    """

    def __init__(self, task: str | Task = "anomaly", *, constrain_gold: bool = True) -> None:
        super().__init__()
        self.task = get_task(task)
        self.constrain_gold = constrain_gold
        self.predict = dspy.Predict(corrector_signature(self.task.description, self.task.answer_type))

    def _signature(self, gold: Any, labels: list[str] | None) -> Any:
        sig = self.predict.signature
        if self.constrain_gold and gold is not None and self._label_like(labels):
            model = self.task.answer_model([str(gold)])
        else:
            model = self.task.answer_model(labels)
        return sig.with_updated_fields("answer", type_=model)

    def _label_like(self, labels: list[str] | None) -> bool:
        return bool(self.task.label_set(labels))

    def forward(self, log_excerpt: str, plan: str, gold: Any, wrong_steps: list[Any] | None = None,
                wrong_answer: Any = None, raw: str | None = None, question: str = "",
                labels: list[str] | None = None) -> dspy.Prediction:
        wrong_steps = [s if isinstance(s, StepResult) else StepResult.model_validate(s) for s in (wrong_steps or [])]
        sig = self._signature(gold, labels)
        r = call_predictor(
            self.predict, signature=sig, question=question or "", log_excerpt=log_excerpt, plan=plan,
            wrong_solution=render_solution(wrong_steps if (wrong_steps or wrong_answer is not None) else None,
                                           wrong_answer, raw),
            gold_answer=str(gold),
        )
        if not r.ok:
            return dspy.Prediction(steps=None, answer=None, first_wrong_step=None,
                                   format_error="; ".join(r.errors), raw=r.raw)
        p = r.prediction
        k = int(p.first_wrong_step or 1)
        k = min(max(k, 1), len(wrong_steps) + 1)
        rewritten = [s if isinstance(s, StepResult) else StepResult.model_validate(s) for s in (p.corrected_steps or [])]
        return dspy.Prediction(steps=wrong_steps[: k - 1] + rewritten, answer=p.answer, first_wrong_step=k,
                               format_error=None, raw=None)
