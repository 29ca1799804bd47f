"""A DSPy optimizer on the embedded `local` model, end to end through the CLI (the documented run of
docs/howto/optimize.md): compile LogReasoner with BootstrapFewShot on the train split of BGL templates
(anomaly), save it, run it with `analyze`, and (optionally) score it beside the uncompiled program on a few
test examples with `eval run`.

    LOGREASONER_THREADS=2 python benchmarks/optimize_local.py --run-dir runs/optimize-local [--eval-limit 6]

Needs ../shared/data (the BGL templates are read from there, not bundled). Prints each command, its wall
time, and the figures; writes them to <run-dir>/summary.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str]) -> tuple[float, str]:
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"failed ({res.returncode}):\n{res.stderr[-3000:]}")
    print(f"  {dt:.1f} s", flush=True)
    return dt, res.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default="runs/optimize-local")
    ap.add_argument("--limit", type=int, default=8, help="training examples (balanced)")
    ap.add_argument("--eval-limit", type=int, default=0, help="test examples scored per program (0: skip)")
    args = ap.parse_args()
    run_dir = Path(args.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    compiled = run_dir / "compiled.json"
    exe = [sys.executable, "-m", "logreasoner.cli.main"]
    summary: dict = {}
    dt, out = run(exe + ["eval", "compile", "--dataset", "bgl_templates_anomaly", "--program", "coarse_to_fine",
                         "--optimizer", "bootstrap", "--model", "local", "--limit", str(args.limit),
                         "--max-demos", "2", "--out", str(compiled)])
    summary["compile"] = {**json.loads(out[out.index("{\n"):]), "wall_seconds": round(dt, 1)}
    sample = ROOT / "logreasoner" / "data" / "samples" / "OpenSSH_2k.log"
    dt, out = run(exe + ["analyze", str(sample), "--task", "anomaly", "--program", str(compiled), "--json"])
    res = json.loads(out)
    summary["analyze"] = {"wall_seconds": round(dt, 1), "answer": res.get("answer"),
                          "format_error": res.get("format_error")}
    if args.eval_limit:
        dt, _ = run(exe + ["eval", "run", "--dataset", "bgl_templates_anomaly", "--program", str(compiled),
                           "--program", "coarse_to_fine", "--model", "local", "--limit", str(args.eval_limit),
                           "--out", str(run_dir / "eval"), "--no-progress", "--bootstrap", "0", "--threads", "1"])
        cells = json.loads((run_dir / "eval" / "results.json").read_text())["cells"]
        summary["eval"] = {"wall_seconds": round(dt, 1), "cells": [
            {k: c.get(k) for k in ("program", "done", "score", "format_failure_rate")} for c in cells]}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
