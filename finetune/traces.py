"""Stage 1 — teacher traces: stepwise solutions (plan, steps, answer) for labelled training examples.

An LM teacher runs the program itself (``build_program('coarse_to_fine', task)``) several times per example at
a temperature above zero (each sample its own rollout id, so no cache entry is reused); traces whose answer
scores as right are kept. Where no sample is right, the teacher is asked again with the gold answer added to the
question as a hint, and what it gets right then is kept and marked ``hinted``. Programmatic experts
(:mod:`logreasoner.finetune.experts`) write traces from the labels directly (``source="expert:<name>"``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import dspy
from pydantic import BaseModel, Field

from logreasoner.errors import ConfigError
from logreasoner.finetune.data import example_id
from logreasoner.finetune.experts import get_expert, method_plans
from logreasoner.finetune.formatting import adapter_for, make_program, program_context
from logreasoner.contracts.answers import Plan, StepResult
from logreasoner.tasks import get_task

__all__ = ["Trace", "expert_traces", "lm_traces", "generate_traces", "save_traces", "load_traces", "hint_question"]


class Trace(BaseModel):
    """One stepwise solution of one training example."""

    id: str
    example_id: str
    task: str
    log: str
    question: str | None = None
    labels: list[str] | None = None
    gold: Any = None
    plan: Plan
    steps: list[StepResult] = Field(default_factory=list)
    answer: dict
    source: str
    hinted: bool = False
    score: float = 1.0
    sample: int = 0
    template_id: str | None = None
    dataset: str | None = None


def hint_question(question: str | None, task: Any, gold: Any) -> str:
    """The question with the gold answer as a hint for the teacher (never used in training prompts)."""
    hint = f"(Hint for this exercise: the correct {task.primary_field} is {gold!r}. Reason to it from the lines.)"
    return f"{question}\n{hint}" if question else hint


def _answer_dict(answer: Any) -> dict:
    if isinstance(answer, BaseModel):
        return answer.model_dump(mode="json")
    return dict(answer)


def expert_traces(examples: Iterable[Any], *, program_cfg: Any = None, progress: Any = None) -> list[Trace]:
    """Traces written by the task's programmatic expert (examples whose task has none raise a ConfigError)."""
    out: list[Trace] = []
    programs: dict[str, Any] = {}
    plans: dict[str, list] = {}
    for ex in examples:
        task = get_task(ex.get("task") or "anomaly")
        expert = get_expert(task)
        if expert is None:
            raise ConfigError(f"no programmatic expert for task '{task.name}'",
                              "use an LM teacher: [teacher] kind = 'lm', model = '<spec>'")
        if task.name not in programs:
            programs[task.name] = make_program(task, program_cfg)
            plans[task.name] = method_plans(task, getattr(programs[task.name], "retriever", None))
        program = programs[task.name]
        with dspy.context(adapter=adapter_for(program_cfg)):
            excerpt = program._excerpt(ex.get("log"), None)
        labels = ex.get("labels")
        try:
            sol = expert.solve(excerpt, ex.get("answer"), labels=labels, meta=ex.get("meta") or {},
                               plans=plans[task.name])
        except ValueError:
            if progress:
                progress.update(1)
            continue  # an example the expert cannot read (e.g. no label set): skipped, counted by the caller
        eid = example_id(ex)
        out.append(Trace(id=f"{eid}#expert", example_id=eid, task=task.name, log=str(ex.get("log")),
                         question=ex.get("question"), labels=labels, gold=ex.get("answer"), plan=sol.plan,
                         steps=sol.steps, answer=sol.answer, source=f"expert:{expert.name}",
                         score=task.score(ex.get("answer"), sol.answer), template_id=sol.template_id,
                         dataset=(ex.get("meta") or {}).get("dataset")))
        if progress:
            progress.update(1)
    return out


def _run_teacher(program: Any, lm: Any, ex: Any, question: str | None) -> Any:
    import dspy

    with dspy.context(lm=lm):
        return program(log=ex.get("log"), question=question, labels=ex.get("labels"))


def lm_traces(examples: Iterable[Any], teacher: Any, *, program_cfg: Any = None, samples: int = 4,
              temperature: float = 0.7, hint: bool = True, hint_samples: int = 2, keep_per_example: int = 2,
              min_score: float = 1.0, progress: Any = None) -> list[Trace]:
    """Traces sampled from an LM teacher running the program; right ones kept, hinted re-asks where none is."""
    out: list[Trace] = []
    programs: dict[str, Any] = {}
    rollout = 0
    for ex in examples:
        task = get_task(ex.get("task") or "anomaly")
        program = programs.setdefault(task.name, make_program(task, program_cfg))
        gold = ex.get("answer")
        eid = example_id(ex)
        kept: list[Trace] = []
        for hinted, n in ((False, samples), (True, hint_samples if hint else 0)):
            if kept:
                break
            q = hint_question(ex.get("question"), task, gold) if hinted else ex.get("question")
            for i in range(n):
                rollout += 1
                lm = teacher.copy(rollout_id=rollout, temperature=temperature)
                pred = _run_teacher(program, lm, ex, q)
                if pred.answer is None or getattr(pred, "plan_format_error", None) or pred.plan is None:
                    continue
                score = task.score(gold, pred.answer)
                if score < min_score:
                    continue
                kept.append(Trace(
                    id=f"{eid}#{'h' if hinted else 's'}{i}", example_id=eid, task=task.name, log=str(ex.get("log")),
                    question=ex.get("question"), labels=ex.get("labels"), gold=gold, plan=pred.plan,
                    steps=list(pred.steps or []), answer=_answer_dict(pred.answer),
                    source=f"teacher:{getattr(teacher, 'model', 'lm')}", hinted=hinted, score=score, sample=i,
                    dataset=(ex.get("meta") or {}).get("dataset")))
                if len(kept) >= keep_per_example:
                    break
        out.extend(kept)
        if progress:
            progress.update(1)
    return out


def generate_traces(examples: list[Any], teacher_cfg: Any, *, program_cfg: Any = None, teacher_lm: Any = None,
                    progress: Any = None) -> list[Trace]:
    """Stage 1 by configuration: expert traces, LM traces, or both (expert first)."""
    traces: list[Trace] = []
    if teacher_cfg.kind in ("expert", "both"):
        traces += expert_traces(examples, program_cfg=program_cfg, progress=progress)
    if teacher_cfg.kind in ("lm", "both"):
        if teacher_lm is None:
            from logreasoner.lm import load_lm

            teacher_lm = load_lm(teacher_cfg.model, api_base=teacher_cfg.api_base)
        traces += lm_traces(examples, teacher_lm, program_cfg=program_cfg, samples=teacher_cfg.samples,
                            temperature=teacher_cfg.temperature, hint=teacher_cfg.hint,
                            hint_samples=teacher_cfg.hint_samples, keep_per_example=teacher_cfg.keep_per_example,
                            min_score=teacher_cfg.min_score, progress=progress)
    return traces


def save_traces(traces: list[Trace], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for t in traces:
            f.write(t.model_dump_json() + "\n")
    tmp.replace(path)


def load_traces(path: Path) -> list[Trace]:
    if not path.is_file():
        raise ConfigError(f"no traces at {path}", "run the 'traces' stage first")
    with path.open(encoding="utf-8") as f:
        return [Trace.model_validate(json.loads(line)) for line in f if line.strip()]


def trace_context(program: Any, trace: Trace, adapter: Any = None) -> tuple[str, str]:
    """(excerpt text, rendered expert plans) the program shows for this trace's problem under ``adapter``."""
    excerpt, plans = program_context(program, trace.log, trace.question, adapter)
    return excerpt.text, plans
