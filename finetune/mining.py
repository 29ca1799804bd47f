"""Stage 4 — mistake mining and correction: preference pairs from the tuned student's own wrong solutions.

The tuned student runs the program on the training examples. For every wrong answer (and, by default, every
answer that did not parse) the corrector (:class:`logreasoner.programs.corrector.Corrector`; the teacher, or the
student itself given the gold answer) finds the first wrong step and rewrites the solution from there; for
free-text answers a 135M student cannot rewrite a reference, so ``corrector="auto"`` lets the task's programmatic
expert write the chosen solution there. A
correction that reaches the gold answer becomes a pair: chosen = corrected solution, rejected = the student's
own, both as the step reasoner's JSON after the step reasoner's prompt (the student's own plan in it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import dspy

from logreasoner.finetune.data import example_id
from logreasoner.finetune.formatting import (
    adapter_for,
    assistant_json,
    make_program,
    step_messages,
    step_signature_for,
)
from logreasoner.tasks import get_task

__all__ = ["mine_pairs", "save_jsonl", "load_jsonl", "steps_contradict"]


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


def _is_text_task(task: Any) -> bool:
    """Tasks scored by overlap with a reference (ROUGE-L): no answer is ever exactly right."""
    from logreasoner.tasks import rouge_l

    return task.metric is rouge_l


def _label_like(task: Any, labels: list[str] | None) -> bool:
    return bool(task.label_set(labels))


def _expert_correction(task: Any, ex: Any, excerpt_text: str, program_cfg: Any) -> tuple[list, Any]:
    """The programmatic expert's solution of one example (its steps and answer), or ([], None)."""
    from logreasoner.finetune.experts import get_expert, method_plans
    from logreasoner.contracts.answers import StepResult

    expert = get_expert(task)
    if expert is None:
        return [], None
    program = make_program(task, program_cfg)
    with dspy.context(adapter=adapter_for(program_cfg)):
        excerpt = program._excerpt(ex.get("log"), None)
    try:
        sol = expert.solve(excerpt, ex.get("answer"), labels=ex.get("labels"), meta=ex.get("meta") or {},
                           plans=method_plans(task, getattr(program, "retriever", None)))
    except ValueError:
        return [], None
    return [StepResult.model_validate(s) for s in sol.steps], task.answer_model(ex.get("labels")).model_validate(
        sol.answer)


def steps_contradict(steps: list[Any], gold: Any, labels: list[str] | None) -> bool:
    """True when the last step names another label of the set as a whole word and never the gold one.

    A self-corrected trace whose steps end "... abnormal: L1 signals a fault" above the verdict ``normal``.
    """
    if not steps or not labels or gold is None:
        return False
    last = steps[-1]
    text = " ".join(str(getattr(last, k, "") or "") for k in ("step", "finding")).lower()

    def named(label: str) -> bool:
        words = re.sub(r"[_\-]+", " ", str(label)).lower().strip()
        return bool(words) and re.search(rf"(?<![\w-]){re.escape(words)}(?![\w-])", text) is not None

    return any(named(lab) for lab in labels if str(lab) != str(gold)) and not named(str(gold))


def _read_checkpoint(path: Path | None) -> tuple[dict[str, dict], list[dict]]:
    records: dict[str, dict] = {}
    pairs: list[dict] = []
    if path is None or not path.is_file():
        return records, pairs
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a kill: that example runs again
            continue
        records[row["record"]["id"]] = row["record"]
        if row.get("pair"):
            pairs.append(row["pair"])
    return records, pairs


def mine_pairs(examples: list[Any], *, student_lm: Any, corrector_lm: Any, program_cfg: Any = None,
               constrain_gold: bool = True, include_format_failures: bool = True, min_score: float = 1.0,
               step_lm: Any = None, progress: Any = None, corrector: str = "student", text_threshold: float = 0.5,
               max_pairs: int | None = None, max_pairs_per_task: int | None = None,
               max_pairs_per_answer: int | None = None,
               checkpoint: str | Path | None = None) -> tuple[list[dict], list[dict]]:
    """Returns (pairs, records): DPO rows (prompt/chosen/rejected + metadata) and one record per example.

    ``corrector``: ``student``/a model (the corrector LM rewrites the solution given the gold answer),
    ``expert`` (the task's programmatic expert writes the chosen solution) or ``auto`` (the corrector LM where
    the answer is a label, the expert for free-text answers). Free-text answers count as mistakes below
    ``text_threshold``. Mining stops at ``max_pairs``; a task with ``max_pairs_per_task`` pairs is not mined
    further; with ``max_pairs_per_answer``, neither is a gold label of a label task that has that many pairs (so
    one kind of mistake cannot fill a task's quota: the second student run's 20 anomaly pairs all taught
    ``normal`` and DPO collapsed the answer). With ``checkpoint`` (a JSONL path) every example is
    appended as it finishes and a rerun skips the examples already there.
    """
    from logreasoner.programs.corrector import Corrector

    adapter = adapter_for(program_cfg)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    done, pairs = _read_checkpoint(ckpt)
    if ckpt is not None:
        ckpt.parent.mkdir(parents=True, exist_ok=True)
    programs: dict[str, Any] = {}
    correctors: dict[str, Any] = {}
    records: list[dict] = []
    for ex in examples:
        if max_pairs is not None and len(pairs) >= max_pairs:
            break
        eid = example_id(ex)
        if eid in done:
            records.append(done[eid])
            if progress:
                progress.update(1)
            continue
        task = get_task(ex.get("task") or "anomaly")
        if max_pairs_per_task is not None and sum(p["task"] == task.name for p in pairs) >= max_pairs_per_task:
            if progress:
                progress.update(1)
            continue
        if max_pairs_per_answer is not None and _label_like(task, ex.get("labels")) and sum(
                p["task"] == task.name and str(p.get("gold")) == str(ex.get("answer")) for p in pairs
        ) >= max_pairs_per_answer:
            if progress:
                progress.update(1)
            continue
        program = programs.setdefault(task.name, make_program(task, program_cfg, planner_lm=student_lm,
                                                              step_lm=step_lm or student_lm))
        gold, labels, question = ex.get("answer"), ex.get("labels"), ex.get("question")
        # one adapter (the one the pairs' prompts are rendered with): the rejected text must be the student's
        # answer to exactly that prompt
        with dspy.context(lm=student_lm, adapter=adapter):
            pred = program(log=ex.get("log"), question=question, labels=labels)
        score = task.score(gold, pred.answer) if pred.answer is not None else 0.0
        threshold = text_threshold if _is_text_task(task) else min_score
        rec = {"id": eid, "task": task.name, "gold": gold,
               "pred": task.primary(pred.answer) if pred.answer is not None else None, "score": score,
               "format_failure": pred.answer is None, "pair": False, "wrong": score < threshold}
        pair = _pair(task, ex, pred, rec, program, program_cfg, adapter, corrector, corrector_lm, correctors,
                     constrain_gold, include_format_failures, threshold, Corrector)
        if pair is not None:
            pairs.append(pair)
        records.append(rec)
        if ckpt is not None:
            with ckpt.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"record": rec, "pair": pair}, ensure_ascii=False, default=str) + "\n")
        if progress:
            progress.update(1)
    return pairs, records


def _pair(task: Any, ex: Any, pred: Any, rec: dict, program: Any, program_cfg: Any, adapter: Any, corrector: str,
          corrector_lm: Any, correctors: dict, constrain_gold: bool, include_format_failures: bool,
          threshold: float, corrector_cls: Any) -> dict | None:
    """The preference pair for one mined example (None when it was right or could not be corrected)."""
    gold, labels, question = ex.get("answer"), ex.get("labels"), ex.get("question")
    if not rec["wrong"] or (pred.answer is None and not include_format_failures):
        return None
    use_expert = corrector == "expert" or (corrector == "auto" and not _label_like(task, labels))
    if use_expert:
        steps, answer = _expert_correction(task, ex, pred.excerpt, program_cfg)
        rec["corrected"] = answer is not None
        rec["corrected_by"] = "expert"
        first_wrong = 1
    else:
        fixer = correctors.setdefault(task.name, corrector_cls(task, constrain_gold=constrain_gold))
        with dspy.context(lm=corrector_lm, adapter=adapter):
            corr = fixer(log_excerpt=pred.excerpt, plan=pred.plan.render(), gold=gold, wrong_steps=pred.steps,
                         wrong_answer=pred.answer, raw=pred.raw, question=question or "", labels=labels)
        steps, answer = corr.steps, corr.answer
        rec["corrected"] = answer is not None and task.score(gold, answer) >= threshold
        rec["corrected_by"] = "self" if corrector == "student" or corrector == "auto" else "corrector"
        first_wrong = corr.first_wrong_step
        if not rec["corrected"]:
            rec["why_no_pair"] = corr.format_error or "correction missed the gold answer"
            return None
        if corrector == "auto" and steps_contradict(steps, gold, task.label_set(labels)):
            # the answer type was narrowed to the gold label but the steps ran free: a chosen side whose steps
            # conclude another label teaches the answer to ignore the steps (the second run's anomaly pairs)
            expert_steps, expert_answer = _expert_correction(task, ex, pred.excerpt, program_cfg)
            if expert_answer is None:
                rec["corrected"], rec["why_no_pair"] = False, "self-correction's steps conclude another label"
                return None
            steps, answer, first_wrong = expert_steps, expert_answer, 1
            rec["corrected_by"], rec["replaced_self_correction"] = "expert", True
    rec["first_wrong_step"] = first_wrong
    if not rec["corrected"] or not steps:
        rec["why_no_pair"] = rec.get("why_no_pair") or "no corrected steps"
        return None
    sig = step_signature_for(program, labels)
    prompt = step_messages(program, excerpt_text=pred.excerpt, plan=pred.plan, question=question, labels=labels,
                           adapter=adapter)
    try:
        chosen = assistant_json(sig, {"steps": steps, "answer": answer})
    except ValueError as e:
        rec["why_no_pair"] = f"corrected solution does not parse: {e}"
        return None
    if pred.answer is not None:
        rejected = json.dumps({"steps": [s.model_dump(mode="json") for s in pred.steps],
                               "answer": pred.answer.model_dump(mode="json")}, ensure_ascii=False)
    else:
        rejected = pred.raw or ""
    if not rejected or rejected == chosen:
        rec["why_no_pair"] = "nothing to prefer"
        return None
    rec["pair"] = True
    return {"prompt": prompt, "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}], "id": rec["id"], "task": task.name,
            "first_wrong_step": first_wrong, "rejected_format_failure": pred.answer is None,
            "corrected_by": rec["corrected_by"], "gold": rec["gold"]}
