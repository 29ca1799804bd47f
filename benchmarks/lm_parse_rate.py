"""Parse success of the embedded `local` model on the five tasks' programs, with and without constrained decoding.

For each task, N development examples run through the coarse-to-fine program (LogReasoner) on SmolLM2-135M
(llama.cpp). We count, per stage, whether the first adapter's output parsed, and whether the program ended with
a typed answer at all (after the ChatAdapter retry). Also prints generation speed from the engine's counters.

    LOGREASONER_THREADS=1 python benchmarks/lm_parse_rate.py --n 5   # needs ../shared/data beside the repo
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import dspy

from logreasoner.lm import engine_of, load_lm
from logreasoner.programs import LogReasoner

SHARED = Path(os.environ.get("LOGREASONER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def examples(n: int) -> dict[str, list[dict]]:
    loglm = [json.loads(x) for x in open(SHARED / "loglm" / "instructions.jsonl")]
    by = lambda t: [r for r in loglm if r["task"] == t][:n]  # noqa: E731
    logeval = [json.loads(x) for x in open(SHARED / "logeval" / "fault_diagnosis_dev.jsonl")]
    diag = []
    for r in logeval[:: max(1, len(logeval) // n)][:n]:
        labels = [x.strip() for x in re.search(r"\{(.*?)\}", r["instruction"]).group(1).split(",")]
        diag.append({"input": r["log"], "instruction": "", "labels": labels})
    return {
        "anomaly": [{"input": r["input"], "instruction": r["instruction"]} for r in by("anomaly_detection")],
        "diagnosis": diag,
        "rca": [{"input": r["input"], "instruction": r["instruction"]} for r in by("root_cause_analysis")],
        "parse": [{"input": r["input"], "instruction": ""} for r in by("log_parsing")],
        "interpret": [{"input": r["input"], "instruction": r["instruction"]} for r in by("log_interpretation")],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--out", default=None)
    ap.add_argument("--max-tokens", type=int, default=512, help="per call, both arms (the engine default is 1024)")
    args = ap.parse_args()
    data = examples(args.n)
    rows = []
    for constrained in (True, False):
        lm = load_lm("local", cache=False, constrained=constrained, max_tokens=args.max_tokens)
        eng = engine_of(lm)
        for task, exs in data.items():
            prog = LogReasoner(task, retriever=None)  # retrieval does not change parsing; keep prompts comparable
            plan_first = step_first = answered = 0
            t0 = time.perf_counter()
            for ex in exs:
                with dspy.context(lm=lm):
                    out = prog(log=ex["input"], question=ex["instruction"], labels=ex.get("labels"))
                plan_first += int(out.plan_format_error is None and out.plan is not None and bool(out.plan.reasoning_steps or out.plan.problem_overview))
                answered += int(out.answer is not None)
                step_first += int(out.answer is not None and not (out.format_error or "").count("step reasoner"))
            rows.append({"constrained": constrained, "task": task, "n": len(exs), "planner_parsed": plan_first,
                         "answer_parsed": answered, "seconds": round(time.perf_counter() - t0, 1)})
            print(json.dumps(rows[-1]), flush=True)
        s = eng.stats
        print(json.dumps({"constrained": constrained, "calls": s.calls, "output_tokens": s.output_tokens,
                          "gen_seconds": round(s.seconds, 1), "tokens_per_second": round(s.tokens_per_second, 1),
                          "hit_max_tokens": s.finish_length}), flush=True)
    print("\n| decoding | task | n | planner parsed | typed answer |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {'constrained' if r['constrained'] else 'free'} | {r['task']} | {r['n']} | "
              f"{r['planner_parsed']}/{r['n']} | {r['answer_parsed']}/{r['n']} |")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
