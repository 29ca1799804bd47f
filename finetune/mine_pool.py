"""What the ``mine`` stage works on and what it reports: the pool of training examples it runs the tuned student
on (those the SFT rows did not use first, capped and interleaved per task) and its figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from logreasoner.finetune.data import example_id

__all__ = ["sft_example_ids", "mine_pool", "mine_figures"]


def sft_example_ids(data_dir: Path) -> set[str]:
    """Example ids behind the SFT rows in ``data_dir`` (mining prefers the examples training did not use)."""
    ids: set[str] = set()
    for f in Path(data_dir).glob("*.jsonl"):
        with f.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    ids.add(str(json.loads(line).get("id", "")).split("#")[0])
                except ValueError:
                    continue
    return ids


def mine_pool(examples: list, data_dir: Path, mine_cfg: Any) -> list:
    """The mining pool: ``examples``, those the SFT rows did not use first (``mine.unused_first``), at most
    ``mine.limit`` per task, interleaved over tasks so that ``max_pairs`` stops on a mix."""
    used = sft_example_ids(data_dir) if mine_cfg.unused_first else set()
    by_task: dict[str, list] = {}
    for e in sorted(examples, key=lambda e: example_id(e) in used):  # stable: unused first
        by_task.setdefault(e.get("task"), []).append(e)
    groups = [g[: mine_cfg.limit] if mine_cfg.limit else g for g in by_task.values()]
    out = []
    for i in range(max((len(g) for g in groups), default=0)):
        out.extend(g[i] for g in groups if i < len(g))
    return out


def mine_figures(records: list[dict], pairs: list[dict], *, min_score: float, corrector: str) -> dict:
    """The stage's outputs: examples, mistakes, corrections and pairs, overall and per task."""
    wrong = [r for r in records if r.get("wrong", r["score"] < min_score)]
    by_task: dict[str, dict] = {}
    for r in records:
        t = by_task.setdefault(r["task"], {"examples": 0, "wrong": 0, "pairs": 0})
        t["examples"] += 1
        t["wrong"] += int(r.get("wrong", False))
        t["pairs"] += int(r.get("pair", False))
    return dict(examples=len(records), wrong=len(wrong),
                format_failures=sum(r["format_failure"] for r in records),
                corrected=sum(bool(r.get("corrected")) for r in records), pairs=len(pairs),
                corrector=corrector, by_task=by_task,
                pairs_by_corrector={k: sum(p.get("corrected_by") == k for p in pairs)
                                    for k in sorted({p.get("corrected_by") for p in pairs})},
                train_score=round(sum(r["score"] for r in records) / max(1, len(records)), 4))
