"""Stage 2 — thought and stepwise SFT datasets (Hugging Face ``datasets``, conversational form).

*Thought* rows teach the planner: log problem (excerpt + retrieved expert plans) -> coarse plan. *Stepwise* rows
teach the step reasoner: problem + plan -> instantiated steps -> answer. *Direct* and *cot* rows (optional) teach
the baselines' prompts the same answers (chain of thought: the steps' findings as its reasoning), so one student
serves every program. All are formatted by :mod:`logreasoner.finetune.formatting` from the same program objects
that run and are evaluated. Before saving, a DPP picks a diverse subset per task and kind (``sft_data.select``);
hinted traces count as less relevant.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from logreasoner.finetune.diversity import select_diverse
from logreasoner.finetune.formatting import (
    adapter_for,
    direct_conversation,
    make_program,
    stepwise_conversation,
    thought_conversation,
)
from logreasoner.finetune.traces import Trace, trace_context

__all__ = ["build_rows", "select_rows", "build_sft_datasets", "load_sft_dataset", "KINDS", "cot_reasoning",
           "MAX_LABEL_ANSWERS"]

KINDS = ("thought", "stepwise", "direct", "cot")


def _trace_text(t: Trace) -> str:
    steps = " ".join(f"{s.step} {s.finding}" for s in t.steps)
    return f"{t.log}\n{t.plan.render()}\n{steps}\n{t.answer}"


def cot_reasoning(t: Trace) -> str:
    """A trace's steps as one chain-of-thought paragraph (what the ``cot`` baseline writes before answering)."""
    return " ".join(f"{s.step}: {s.finding}." for s in t.steps)[:600]


def build_rows(traces: list[Trace], *, program_cfg: Any = None,
               kinds: tuple[str, ...] = ("thought", "stepwise")) -> dict[str, list[dict]]:
    """One row per trace and kind (columns: messages, id, task, source, hinted, text)."""
    from logreasoner.programs import build_program

    adapter = adapter_for(program_cfg)
    programs: dict[str, Any] = {}
    direct: dict[str, Any] = {}
    rows: dict[str, list[dict]] = {k: [] for k in KINDS}
    for t in traces:
        program = programs.setdefault(t.task, make_program(t.task, program_cfg))
        excerpt_text, plans = trace_context(program, t, adapter)
        meta = {"id": t.id, "task": t.task, "source": t.source, "hinted": t.hinted, "text": _trace_text(t),
                "dataset": t.dataset or "", "gold": str(t.gold)[:200]}
        if "thought" in kinds:
            rows["thought"].append({"messages": thought_conversation(
                program, excerpt_text=excerpt_text, expert_plans=plans, question=t.question, plan=t.plan,
                adapter=adapter), **meta})
        if "stepwise" in kinds:
            rows["stepwise"].append({"messages": stepwise_conversation(
                program, excerpt_text=excerpt_text, plan=t.plan, question=t.question, labels=t.labels,
                steps=t.steps, answer=t.answer, adapter=adapter), **meta})
        for kind in ("direct", "cot"):
            if kind not in kinds:
                continue
            base = direct.setdefault(f"{kind}:{t.task}", build_program(
                kind, t.task, max_templates=program.max_templates, max_chars=program.max_chars))
            rows[kind].append({"messages": direct_conversation(
                base, excerpt_text=excerpt_text, question=t.question, labels=t.labels, answer=t.answer,
                reasoning=cot_reasoning(t) if kind == "cot" else None, adapter=adapter), **meta})
    return rows


def _answer_quotas(sizes: dict[str, int], cap: int, prior: float = 0.0) -> dict[str, int]:
    """``cap`` spread over the answers in proportion to ``size ** prior`` as far as their sizes allow (a rare
    answer keeps all it has, the rest fill up): ``prior`` 0 spreads it evenly, 1 keeps the data's own label
    prior, 0.5 is in between (square-root weights)."""
    weight = {a: float(n) ** prior if n else 0.0 for a, n in sizes.items()}
    quota = {a: 0 for a in sizes}
    left = cap
    while left > 0:
        open_ = [a for a in sizes if quota[a] < sizes[a]]
        if not open_:
            break
        total = sum(weight[a] for a in open_)
        start = left
        for a in sorted(open_, key=lambda a: sizes[a]):
            share = max(1, int(start * weight[a] / total))
            take = min(share, sizes[a] - quota[a], left)
            quota[a] += take
            left -= take
            if left <= 0:
                break
    return quota


def _diverse(group: list[dict], cap: int | None, theta: float, hinted_quality: float) -> list[dict]:
    rel = [hinted_quality if r["hinted"] else 1.0 for r in group]
    return [group[i] for i in sorted(select_diverse([r["text"] for r in group], cap, relevance=rel, theta=theta))]


# a dataset whose gold answers take at most this many distinct values is a label dataset (its cap is spread over them)
MAX_LABEL_ANSWERS = 16


def select_rows(rows: list[dict], k: int | dict[str, int] | None, *, theta: float = 0.7,
                hinted_quality: float = 0.5, by: str = "task", max_answers: int = MAX_LABEL_ANSWERS,
                label_prior: float = 0.0) -> list[dict]:
    """A DPP-diverse subset of at most ``k`` rows per group (``by`` = ``task`` or ``dataset``; ``k`` may map group
    names to their own cap; all rows when ``k`` is None or a group has no cap).

    By dataset, a dataset whose gold answers are labels (at most ``max_answers`` distinct) is balanced over them
    first (a rare answer keeps all its rows; ``label_prior`` 0 = evenly, 1 = at the data's own prior, see
    :func:`_answer_quotas`) and the DPP picks within each answer: near-duplicate lines of one system (BGL alerts)
    would otherwise lose to the varied lines of another source."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r.get(by) or r["task"]].append(r)
    out: list[dict] = []
    for name in sorted(groups):
        group = groups[name]
        cap = k.get(name) if isinstance(k, dict) else k
        if cap == 0:
            continue
        answers: dict[str, list[dict]] = defaultdict(list)
        for r in group:
            answers[r.get("gold", "")].append(r)
        if by != "dataset" or cap is None or cap >= len(group) or len(answers) > max_answers:
            out.extend(_diverse(group, cap, theta, hinted_quality))
            continue
        quota = _answer_quotas({a: len(v) for a, v in answers.items()}, cap, label_prior)
        for a in sorted(answers):
            out.extend(_diverse(answers[a], quota[a], theta, hinted_quality))
    return out


def _token_length(tokenizer: Any, messages: list[dict]) -> int:
    enc = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)
    return len(enc["input_ids"])


def build_sft_datasets(traces: list[Trace], out_dir: Path, *, program_cfg: Any = None,
                       select: int | dict[str, Any] | None = None, theta: float = 0.7, hinted_quality: float = 0.5,
                       tokenizer: Any = None, max_tokens: int | None = None,
                       kinds: tuple[str, ...] = ("thought", "stepwise"), select_by: str = "task",
                       label_prior: float = 0.0) -> dict[str, dict]:
    """Build, select and save ``out_dir/<kind>`` (``datasets.save_to_disk``) plus a JSONL copy to read.

    Conversations longer than ``max_tokens`` (by ``tokenizer``) are dropped, never truncated: a truncated prompt
    is not the prompt the model sees at run time. Returns per-kind counts.
    """
    from datasets import Dataset

    rows = build_rows(traces, program_cfg=program_cfg, kinds=kinds)
    summary: dict[str, dict] = {}
    for kind in kinds:
        cap = select.get(kind, select.get("default")) if isinstance(select, dict) else select
        chosen = select_rows(rows[kind], cap, theta=theta, hinted_quality=hinted_quality, by=select_by,
                             label_prior=label_prior)
        dropped = 0
        lengths = []
        if tokenizer is not None:
            kept = []
            for r in chosen:
                n = _token_length(tokenizer, r["messages"])
                if max_tokens and n > max_tokens:
                    dropped += 1
                    continue
                r = {**r, "n_tokens": n}
                lengths.append(n)
                kept.append(r)
            chosen = kept
        ds = Dataset.from_list([{k: v for k, v in r.items() if k != "text"} for r in chosen]) if chosen else None
        target = out_dir / kind
        if ds is not None:
            ds.save_to_disk(str(target))
            ds.to_json(str(out_dir / f"{kind}.jsonl"), lines=True, force_ascii=False)
        per_task: dict[str, int] = defaultdict(int)
        per_dataset: dict[str, int] = defaultdict(int)
        for r in chosen:
            per_task[r["task"]] += 1
            per_dataset[r.get("dataset") or "(unnamed)"] += 1
        summary[kind] = {"rows": len(chosen), "built": len(rows[kind]), "dropped_too_long": dropped,
                         "per_task": dict(per_task), "per_dataset": dict(sorted(per_dataset.items())),
                         "hinted": sum(1 for r in chosen if r["hinted"]),
                         "max_tokens": max(lengths) if lengths else None,
                         "mean_tokens": round(sum(lengths) / len(lengths), 1) if lengths else None}
    return summary


def load_sft_dataset(data_dir: Path, kinds: list[str]) -> Any:
    """The training rows of ``kinds`` (only the ``messages`` column TRL needs), concatenated."""
    from datasets import concatenate_datasets, load_from_disk

    from logreasoner.errors import ConfigError

    parts = []
    for kind in kinds:
        p = data_dir / kind
        if not p.exists():
            raise ConfigError(f"no {kind} SFT data at {p}", "run the 'sft-data' stage first (or it had no rows)")
        ds = load_from_disk(str(p))
        parts.append(ds.select_columns(["messages"]))
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]
