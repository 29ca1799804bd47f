"""Training and held-back examples: ``dspy.Example`` lists with inputs ``log``/``question``/``labels`` and gold
``answer``, from a ``logreasoner.evals`` dataset (its fixed, seeded split) or a JSONL file (a seeded split here).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from logreasoner.errors import InputError
from logreasoner.finetune.config import DatasetConfig

__all__ = ["load_examples", "load_jsonl_examples", "example_id", "balanced_sample", "make_example"]


def make_example(log: str, answer: Any, *, question: str | None = None, labels: list[str] | None = None,
                 task: str | None = None, meta: dict | None = None) -> Any:
    """One ``dspy.Example`` in the shape every stage expects."""
    import dspy

    ex = dspy.Example(log=log, question=question, labels=list(labels) if labels else None, answer=answer,
                      task=task, meta=dict(meta or {}))
    return ex.with_inputs("log", "question", "labels")


def example_id(ex: Any) -> str:
    """A stable id: ``meta.id`` when the dataset gives one, else a hash of the inputs."""
    meta = getattr(ex, "meta", None) or {}
    if isinstance(meta, dict) and meta.get("id"):
        return str(meta["id"])
    key = json.dumps([str(ex.get("log")), ex.get("question"), ex.get("labels")], sort_keys=True, default=str)
    return "ex:" + hashlib.blake2b(key.encode(), digest_size=6).hexdigest()


def balanced_sample(examples: list[Any], limit: int | None, *, seed: int = 0, key: str = "answer") -> list[Any]:
    """At most ``limit`` examples spread as evenly as the data allows over the gold answers (round robin over
    answers in a seeded order); the order inside each answer keeps the input order (a stable shuffle)."""
    if limit is None or limit >= len(examples):
        return list(examples)
    groups: dict[str, list[Any]] = defaultdict(list)
    for ex in examples:
        groups[str(ex.get(key))].append(ex)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    out: list[Any] = []
    i = 0
    while len(out) < limit:
        progressed = False
        for k in order:
            if i < len(groups[k]) and len(out) < limit:
                out.append(groups[k][i])
                progressed = True
        if not progressed:
            break
        i += 1
    return out


def _split_of(key: str, seed: int, test_fraction: float) -> str:
    digest = hashlib.blake2b(f"finetune\x00{seed}\x00{key}".encode(), digest_size=8).digest()
    return "test" if int.from_bytes(digest, "big") / 2**64 < test_fraction else "train"


def load_jsonl_examples(cfg: DatasetConfig, split: str, *, seed: int = 0) -> list[Any]:
    """Examples of one split of a JSONL file (the split is a seeded hash of the log text, so duplicates of a log
    never straddle train and test)."""
    path = Path(str(cfg.path)).expanduser()
    if not path.is_file():
        raise InputError(f"training data not found: {path}", "check the dataset path in the config")
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{n}: not JSON ({e.msg})", "one JSON object per line") from None
            if cfg.log_field not in row or cfg.answer_field not in row:
                raise InputError(f"{path}:{n}: missing {cfg.log_field!r} or {cfg.answer_field!r}",
                                 "set log_field/answer_field in the dataset's config table")
            log = str(row[cfg.log_field])
            if split != "all" and _split_of(log, seed, cfg.test_fraction) != split:
                continue
            labels = row.get(cfg.labels_field) if cfg.labels_field else None
            if isinstance(labels, str):
                labels = [x.strip() for x in labels.split(",") if x.strip()]
            question = row.get(cfg.question_field) if cfg.question_field else None
            out.append(make_example(log, row[cfg.answer_field], question=question, labels=labels, task=cfg.task,
                                    meta={"id": f"{path.stem}:{n}", "dataset": path.stem, "split": split}))
    random.Random(seed).shuffle(out)
    return out


def load_examples(cfg: DatasetConfig, split: str = "train", *, seed: int = 0, limit: int | None = None) -> list[Any]:
    """The examples of one dataset config and split ('train' or 'test' map to the config's split names)."""
    if cfg.name:
        from logreasoner.evals import get_dataset, load_dataset

        real = cfg.train_split if split == "train" else cfg.test_split if split == "test" else split
        exs = load_dataset(cfg.name, split=real, seed=seed)
        field = get_dataset(cfg.name).answer_field
        if field:  # which answer field the gold fills (e.g. remediation): the experts write it there
            exs = [e.copy(meta={**(e.get("meta") or {}), "answer_field": field}) for e in exs]
        if cfg.task:
            exs = [e.copy(task=cfg.task) for e in exs]
    else:
        exs = load_jsonl_examples(cfg, split, seed=seed)
    if cfg.balance:
        return balanced_sample(exs, limit, seed=seed)
    return exs[:limit] if limit else exs
