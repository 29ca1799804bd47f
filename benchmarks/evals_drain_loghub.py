"""Reproduce Drain's grouping accuracy on Loghub-2k with Drain3 and LogPAI's per-system settings.

Usage: /work/venv/bin/python benchmarks/evals_drain_loghub.py [--original]

Parses every system's 2,000 lines in order (as the Loghub benchmark does: each line gets its cluster's final
template), then scores grouping accuracy (GA), message-level parsing accuracy (PA) and normalised template edit
distance (ED) against the corrected templates bundled with logreasoner. With ``--original`` (needs the shared
data folder) it also scores against the original Loghub templates, the labels the published figures used.
Prints a Markdown table beside the published Drain GA (Zhu et al., "Tools and Benchmarks for Automated Log
Parsing", ICSE-SEIP 2019).
"""

from __future__ import annotations

import argparse
import csv
import io
import time

from logreasoner.evals import metrics as M
from logreasoner.evals.baselines import drain_parse
from logreasoner.evals.bundle import LOGHUB_SYSTEMS
from logreasoner.evals.paths import bundled_data_dir, shared_data_dir
from logreasoner.evals.sources import open_text, read_loghub_system

PUBLISHED_DRAIN_GA = {
    "HDFS": 0.998, "Hadoop": 0.948, "Spark": 0.920, "Zookeeper": 0.967, "BGL": 0.963, "HPC": 0.887,
    "Thunderbird": 0.955, "Windows": 0.997, "Linux": 0.690, "Android": 0.911, "HealthApp": 0.780,
    "Apache": 1.000, "Proxifier": 0.527, "OpenSSH": 0.788, "OpenStack": 0.733, "Mac": 0.787,
}


def _original(system: str):
    root = shared_data_dir(required=False)
    if root is None:
        return None
    path = root / "loghub-2k" / system / f"{system}_2k.log_structured.csv"
    if not path.is_file():
        return None
    return list(csv.DictReader(io.StringIO(open_text(path))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--original", action="store_true", help="also score against the original Loghub templates")
    args = ap.parse_args()
    root = bundled_data_dir() / "loghub-2k"
    head = "| system | GA corrected | PA corrected | ED corrected |"
    sep = "|---|---|---|---|"
    if args.original:
        head += " GA original |"
        sep += "---|"
    print(head + " published GA | Δ (corrected − published) | s |")
    print(sep + "---|---|---|")
    ga_all, pub_all, orig_all = [], [], []
    for system in LOGHUB_SYSTEMS:
        t0 = time.perf_counter()
        rows = read_loghub_system(root, system)
        gold = [r["EventTemplate"] for r in rows]
        pred = drain_parse([r["Content"] for r in rows], system)
        ga, pa, ed = M.grouping_accuracy(gold, pred), M.parsing_accuracy(gold, pred), M.mean_edit_distance(gold, pred)
        line = f"| {system} | {ga:.3f} | {pa:.3f} | {ed:.3f} |"
        if args.original:
            orig = _original(system)
            if orig is None:
                line += " n/a |"
            else:
                og = M.grouping_accuracy([r["EventTemplate"] for r in orig],
                                         drain_parse([r["Content"] for r in orig], system))
                orig_all.append(og)
                line += f" {og:.3f} |"
        pub = PUBLISHED_DRAIN_GA[system]
        ga_all.append(ga)
        pub_all.append(pub)
        print(line + f" {pub:.3f} | {ga - pub:+.3f} | {time.perf_counter() - t0:.1f} |")
    n = len(ga_all)
    line = f"| **mean ({n} systems)** | {sum(ga_all) / n:.3f} | | |"
    if args.original:
        line += f" {sum(orig_all) / len(orig_all):.3f} |" if orig_all else " n/a |"
    print(line + f" {sum(pub_all) / n:.3f} | {(sum(ga_all) - sum(pub_all)) / n:+.3f} | |")


if __name__ == "__main__":
    main()
