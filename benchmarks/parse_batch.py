"""Batch parsing (group, ask once per group, check, cache) beside Drain3 on the bundled Loghub-2k systems.

Usage:
    python benchmarks/parse_batch.py                       # no model: the parser falls back to Drain3 templates
    python benchmarks/parse_batch.py --model local         # the embedded student (the table of PARSING.md)
    python benchmarks/parse_batch.py --model local-base --systems HDFS,Apache
    python benchmarks/parse_batch.py --oracle [--on-mismatch split]   # gold answers: the mechanism's ceiling

For each system the 2,000 message contents are parsed (1) by Drain3 with LogPAI's settings (the baseline of
benchmarks/DRAIN.md), (2) by :class:`logreasoner.logs.batch_parse.BatchParser` on an empty template cache
(cold) and (3) again on the cache the cold run filled (warm). Scores are against the corrected templates bundled
with logreasoner: grouping accuracy (GA), message-level parsing accuracy (PA), normalised template edit
distance (ED, lower is better); lines/s is wall time of the parse alone (model load excluded: the model is
loaded, and asked one warm-up question, before the first system).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from logreasoner.evals import metrics as M
from logreasoner.evals.baselines import drain_parse
from logreasoner.evals.bundle import LOGHUB_SYSTEMS
from logreasoner.evals.paths import bundled_data_dir
from logreasoner.evals.sources import read_loghub_system
from logreasoner.logs.batch_parse import BatchParser, BatchParseSettings
from logreasoner.logs.template_store import TemplateStore


def _scores(gold: list[str], pred: list[str]) -> tuple[float, float, float]:
    return M.grouping_accuracy(gold, pred), M.parsing_accuracy(gold, pred), M.mean_edit_distance(gold, pred)


class _Oracle:
    """Answers the gold template of the first line shown; counts calls."""

    def __init__(self, truth: dict[str, str]) -> None:
        self.truth, self.calls = truth, 0

    def __call__(self, sample: list[str]) -> str:
        self.calls += 1
        return self.truth[sample[0]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model spec (local, local-base, ...); none: Drain3 templates only")
    ap.add_argument("--program", default="direct", help="parse program kind or compiled program file")
    ap.add_argument("--systems", default=",".join(LOGHUB_SYSTEMS), help="comma-separated Loghub systems")
    ap.add_argument("--on-mismatch", choices=("fallback", "split"), default="fallback")
    ap.add_argument("--sample-lines", type=int, default=3)
    ap.add_argument("--min-group-lines", type=int, default=1, help="smaller groups take Drain's template, no call")
    ap.add_argument("--oracle", action="store_true", help="no model: the templater answers the gold template of the "
                    "first line it is shown (the mechanism's ceiling, not a parser)")
    ap.add_argument("--no-reconcile", action="store_true", help="take a failing model template as failed")
    args = ap.parse_args()

    templater = None
    if args.model:
        from logreasoner.lm import load_lm
        from logreasoner.programs.group_template import ProgramTemplater

        templater = ProgramTemplater(load_lm(args.model, cache=False), program=args.program)  # no DSPy cache
        templater(["warm-up line 1"])  # load the weights outside the timed parses
        templater.calls = templater.format_errors = 0
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    root = bundled_data_dir() / "loghub-2k"
    tmp = Path(tempfile.mkdtemp(prefix="parse_batch_"))
    who = "oracle (gold templates)" if args.oracle else args.model or "none (Drain3 templates)"
    print(f"model: {who}; program: {args.program}; on_mismatch: {args.on_mismatch}; "
          f"sample_lines: {args.sample_lines}; reconcile: {not args.no_reconcile}; "
          f"min_group_lines: {args.min_group_lines}\n")
    print("| system | Drain3 GA | PA | ED | lines/s | batch cold GA | PA | ED | lines/s | calls | taken (reconciled) | "
          "fallback lines | batch warm GA | PA | ED | lines/s | calls |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    tot: dict[str, list[float]] = {}
    for system in systems:
        rows = read_loghub_system(root, system)
        lines, gold = [r["Content"] for r in rows], [r["EventTemplate"] for r in rows]
        t0 = time.perf_counter()
        base = drain_parse(lines, system)
        d_lps = len(lines) / (time.perf_counter() - t0)
        settings = BatchParseSettings.for_system(system, on_mismatch=args.on_mismatch, sample_lines=args.sample_lines,
                                                  reconcile=not args.no_reconcile,
                                                  min_group_lines=args.min_group_lines)
        if args.oracle:
            truth = dict(zip(lines, gold))
            templater = _Oracle(truth)
        parser = BatchParser(templater, settings=settings, store=TemplateStore(tmp / f"{system}.sqlite"))
        calls0 = getattr(templater, "calls", 0)
        cold = parser.parse(lines, system)
        calls1 = getattr(templater, "calls", 0)
        warm = parser.parse(lines, system)
        calls2 = getattr(templater, "calls", 0)
        vals = {"d": _scores(gold, base), "c": _scores(gold, cold.templates), "w": _scores(gold, warm.templates)}
        for k, v in vals.items():
            tot.setdefault(k, [0.0, 0.0, 0.0])
            tot[k] = [a + b for a, b in zip(tot[k], v)]
        f = lambda v: " | ".join(f"{x:.3f}" for x in v)  # noqa: E731
        print(f"| {system} | {f(vals['d'])} | {d_lps:,.0f} | {f(vals['c'])} | {cold.stats.lines_per_second:,.0f} | "
              f"{calls1 - calls0} | {cold.stats.model_templates} ({cold.stats.reconciled}) | "
              f"{cold.stats.fallback_lines} | {f(vals['w'])} | "
              f"{warm.stats.lines_per_second:,.0f} | {calls2 - calls1} |", flush=True)
    n = len(systems)
    f = lambda k: " | ".join(f"{x / n:.3f}" for x in tot[k])  # noqa: E731
    print(f"| **mean ({n})** | {f('d')} | | {f('c')} | | | | | {f('w')} | | |")


if __name__ == "__main__":
    main()
