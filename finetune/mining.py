"""Stage 4 — mistake mining and correction: preference pairs from the tuned student's own wrong solutions.

The tuned student runs the program on the training examples. For every wrong answer (and, by default, every
answer that did not parse) the corrector (:class:`logreasoner.programs.corrector.Corrector`; the teacher, or the
student itself given the gold answer) finds the first wrong step and rewrites the solution from there. A
correction that reaches the gold answer becomes a pair: chosen = corrected solution, rejected = the student's
own, both as the step reasoner's JSON after the step reasoner's prompt (the student's own plan in it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dspy

from logreasoner.finetune.data import example_id
from logreasoner.finetune.formatting import assistant_json, make_program, step_messages, step_signature_for
from logreasoner.tasks import get_task

__all__ = ["mine_pairs", "save_jsonl", "load_jsonl"]


def save_jsonl(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    tmp.replace(path)


def load_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def mine_pairs(examples: list[Any], *, student_lm: Any, corrector_lm: Any, program_cfg: Any = None,
               constrain_gold: bool = True, include_format_failures: bool = True, min_score: float = 1.0,
               step_lm: Any = None, progress: Any = None) -> tuple[list[dict], list[dict]]:
    """Returns (pairs, records): DPO rows (prompt/chosen/rejected + metadata) and one record per example."""
    from logreasoner.programs.corrector import Corrector

    programs: dict[str, Any] = {}
    correctors: dict[str, Any] = {}
    pairs: list[dict] = []
    records: list[dict] = []
    for ex in examples:
        task = get_task(ex.get("task") or "anomaly")
        program = programs.setdefault(task.name, make_program(task, program_cfg, planner_lm=student_lm,
                                                              step_lm=step_lm or student_lm))
        corrector = correctors.setdefault(task.name, Corrector(task, constrain_gold=constrain_gold))
        gold, labels, question = ex.get("answer"), ex.get("labels"), ex.get("question")
        # JSONAdapter only: the pair's prompt is the JSONAdapter prompt, so the rejected text must be the student's
        # answer to that prompt (the chain's ChatAdapter retry would answer a different prompt)
        with dspy.context(lm=student_lm, adapter=dspy.JSONAdapter()):
            pred = program(log=ex.get("log"), question=question, labels=labels)
        score = task.score(gold, pred.answer) if pred.answer is not None else 0.0
        rec = {"id": example_id(ex), "task": task.name, "gold": gold,
               "pred": task.primary(pred.answer) if pred.answer is not None else None, "score": score,
               "format_failure": pred.answer is None, "pair": False}
        records.append(rec)
        if progress:
            progress.update(1)
        if score >= min_score or (pred.answer is None and not include_format_failures):
            continue
        with dspy.context(lm=corrector_lm):
            corr = corrector(log_excerpt=pred.excerpt, plan=pred.plan.render(), gold=gold, wrong_steps=pred.steps,
                             wrong_answer=pred.answer, raw=pred.raw, question=question or "", labels=labels)
        rec["corrected"] = corr.answer is not None and task.score(gold, corr.answer) >= min_score
        rec["first_wrong_step"] = corr.first_wrong_step
        if not rec["corrected"] or not corr.steps:
            rec["why_no_pair"] = corr.format_error or ("no steps" if corr.answer is not None and not corr.steps
                                                       else "correction missed the gold answer")
            continue
        sig = step_signature_for(program, labels)
        prompt = step_messages(program, excerpt_text=pred.excerpt, plan=pred.plan, question=question, labels=labels)
        try:
            chosen = assistant_json(sig, {"steps": corr.steps, "answer": corr.answer})
        except ValueError as e:
            rec["why_no_pair"] = f"corrected solution does not parse: {e}"
            continue
        if pred.answer is not None:
            rejected = json.dumps({"steps": [s.model_dump(mode="json") for s in pred.steps],
                                   "answer": pred.answer.model_dump(mode="json")}, ensure_ascii=False)
        else:
            rejected = pred.raw or ""
        if not rejected or rejected == chosen:
            rec["why_no_pair"] = "nothing to prefer"
            continue
        rec["pair"] = True
        pairs.append({"prompt": prompt, "chosen": [{"role": "assistant", "content": chosen}],
                      "rejected": [{"role": "assistant", "content": rejected}], "id": rec["id"], "task": task.name,
                      "first_wrong_step": corr.first_wrong_step, "rejected_format_failure": pred.answer is None})
    return pairs, records
