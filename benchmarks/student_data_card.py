"""The data card of the student's training set: rows per source, task and kind, licences, splits.

    python benchmarks/student_data_card.py --run-dir runs/student-prior > benchmarks/STUDENT_DATA.md

Reads the run's SFT rows (``<run>/data/*.jsonl``, written by the recipe's ``sft-data`` stage) and mining pairs,
and each dataset's split sizes from ``logreasoner.evals`` (train: used for traces and mining; dev: the LoRA sweep;
test: held back from every stage).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def answers(run_dir: Path, kind: str = "stepwise") -> dict[str, dict[str, int]]:
    """Rows per gold answer of each label dataset in one SFT kind's rows (a label dataset as the row selection
    counts one: at most ``MAX_LABEL_ANSWERS`` distinct answers)."""
    from logreasoner.finetune.sft_data import MAX_LABEL_ANSWERS

    out: dict[str, dict[str, int]] = {}
    f = run_dir / "data" / f"{kind}.jsonl"
    if not f.is_file():
        return out
    with f.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            per = out.setdefault(row.get("dataset") or "(unnamed)", {})
            gold = str(row.get("gold", ""))
            per[gold] = per.get(gold, 0) + 1
    return {name: per for name, per in out.items() if len(per) <= MAX_LABEL_ANSWERS}


def card(run_dir: Path, recipe: str = "finetune/recipes/student.toml") -> str:
    from logreasoner.evals import get_dataset, load_dataset
    from logreasoner.finetune.ship import training_sources

    sources = training_sources(run_dir)
    kinds = sorted({k for s in sources for k in s["rows_by_kind"]})
    lines = ["# Student training data (data card)", "",
             f"Run folder `{run_dir.name}`, built by `{recipe}` (stage `sft-data`). Every row is "
             "a conversation in the compact prompt format the student is asked with at run time; the assistant "
             "turn was written by a programmatic expert (flowchart path answered from the label; reference answer "
             "for free-text tasks). Only bundleable data: Loghub-2k (research licence, notice kept), LogLM "
             "(Apache-2.0), LogInstruct (MIT).", "",
             "| dataset | task | licence | " + " | ".join(f"{k} rows" for k in kinds) +
             " | rows | train / dev / test examples |",
             "|---|---|---|" + "---|" * len(kinds) + "---|---|"]
    total = {k: 0 for k in kinds}
    for s in sources:
        spec = get_dataset(s["name"])
        sizes = "/".join(str(len(load_dataset(s["name"], split=sp))) for sp in ("train", "dev", "test"))
        cells = []
        for k in kinds:
            v = s["rows_by_kind"].get(k, 0)
            total[k] += v
            cells.append(str(v))
        lines.append(f"| {s['name']} | {spec.task} | {spec.licence} | " + " | ".join(cells) +
                     f" | {s['rows']} | {sizes} |")
    lines.append("| **all** | | | " + " | ".join(f"**{total[k]}**" for k in kinds) +
                 f" | **{sum(total.values())}** | |")
    by_task: dict[str, int] = {}
    for s in sources:
        by_task[s["task"]] = by_task.get(s["task"], 0) + s["rows"]
    lines += ["", "Rows per task: " + ", ".join(f"{t} {n}" for t, n in sorted(by_task.items())) + "."]
    label = answers(run_dir)
    if label:
        lines += ["", "Answers of the label datasets' stepwise rows (the recipe's `sft_data.label_prior`: 0 spreads "
                  "a dataset's cap evenly over its answers, 1 keeps the data's own prior; a rare answer is never "
                  "dropped):", "", "| dataset | rows per answer |", "|---|---|"]
        for name, per in sorted(label.items()):
            cells = ", ".join(f"{a} {n}" for a, n in sorted(per.items(), key=lambda kv: (-kv[1], kv[0])))
            lines.append(f"| {name} | {cells} |")
    pairs = run_dir / "mine" / "pairs.jsonl"
    if pairs.is_file():
        rows = [json.loads(x) for x in pairs.read_text(encoding="utf-8").splitlines() if x.strip()]
        per: dict[str, int] = {}
        how: dict[str, int] = {}
        for r in rows:
            per[r["task"]] = per.get(r["task"], 0) + 1
            how[r.get("corrected_by", "?")] = how.get(r.get("corrected_by", "?"), 0) + 1
        lines += ["", f"DPO pairs (mined from the SFT student's own mistakes on train examples): {len(rows)} — "
                  + ", ".join(f"{t} {n}" for t, n in sorted(per.items())) + "; corrected by "
                  + ", ".join(f"{k} {n}" for k, n in sorted(how.items())) + "."]
    lines += ["", "Splits are fixed and seeded (`logreasoner.evals.splits`: 60/20/20 by a hash of the log text; "
              "Loghub windows take the split of their lines, so no line is in a training window and a test example "
              "at once). No stage reads a test split; the LoRA sweep read dev."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default="runs/student-prior")
    ap.add_argument("--recipe", default="finetune/recipes/student.toml", help="the recipe named in the card")
    args = ap.parse_args()
    print(card(Path(args.run_dir).resolve(), args.recipe), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
