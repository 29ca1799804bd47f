"""Keyword and level baselines on the anomaly datasets (all records of each; no model).

Usage: /work/venv/bin/python benchmarks/evals_baselines_anomaly.py

Prints precision / recall / F1 on the abnormal class, the floor any anomaly detector must beat. The
shared-data dataset (LogPrompt BGL templates) is included when the shared folder is present.
"""

from __future__ import annotations

from logreasoner.evals import metrics as M
from logreasoner.evals.baselines import KeywordDetector, LevelDetector
from logreasoner.evals.datasets import get_dataset, load_dataset
from logreasoner.evals.paths import shared_data_dir

DATASETS = ["bgl_anomaly", "bgl_templates_anomaly", "loglm_anomaly", "loginstruct_is_error"]
BASELINES = {"keyword": KeywordDetector(), "level (FATAL, ERROR)": LevelDetector(), "level (FATAL)": LevelDetector(("FATAL",)),
             "all abnormal": None}


def main() -> None:
    have_shared = shared_data_dir(required=False) is not None
    print("| dataset | n (abnormal) | baseline | precision | recall | F1 |")
    print("|---|---|---|---|---|---|")
    for name in DATASETS:
        if not get_dataset(name).bundled and not have_shared:
            continue
        exs = load_dataset(name, split="all")
        gold = [e["answer"] for e in exs]
        n_abn = sum(g == "abnormal" for g in gold)
        for label, det in BASELINES.items():
            pred = ["abnormal"] * len(exs) if det is None else [det(log=e["log"]).answer.verdict for e in exs]
            r = M.binary_prf(gold, pred)
            print(f"| {name} | {len(exs)} ({n_abn}) | {label} | {r['precision']:.3f} | {r['recall']:.3f} | "
                  f"{r['f1']:.3f} |")


if __name__ == "__main__":
    main()
