"""Real run of the log investigator over a folder of Loghub 2k samples, on five questions with known answers.

    /work/venv/bin/python benchmarks/agents_investigator.py --model local --out runs/agents_investigator.json

Copies five real Loghub 2k logs (OpenSSH, HDFS, Apache, Zookeeper, Hadoop) into a temporary folder, asks five
questions whose answers are derived from the real lines by this script (and checked against the stated gold
before the agent runs), and records per question: status, time against the budget, steps, model calls, the
verified and invented evidence lines, and whether the answer was right (a gold keyword in the stated cause)
and grounded (a verified evidence line that shows the gold keyword).

Loghub is public and likely seen in pre-training; the questions are the project's own.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

DEFAULT_DATA = "/work/shared/data/loghub-2k"
SYSTEMS = ("OpenSSH", "HDFS", "Apache", "Zookeeper", "Hadoop")


def _top(counter: Counter) -> str:
    return counter.most_common(1)[0][0]


def _count(path: Path, pattern: str) -> Counter:
    rx = re.compile(pattern)
    c: Counter = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = rx.search(line)
        if m:
            c[m.group(1)] += 1
    return c


@dataclass
class Question:
    id: str
    text: str
    gold: str  # the answer in words
    keywords: tuple[str, ...]  # any of these (case-insensitive) in the cause = right
    derive: Callable[[Path], str]  # recomputes the key fact from the real lines
    expect: str  # what derive must return
    reference: tuple[str, dict]  # one tool call an engineer would make (tool name, arguments)


QUESTIONS = [
    Question("ssh_user", "Which user name had the most failed SSH password attempts?", "root (370 failures)",
             ("root",), lambda d: _top(_count(d / "OpenSSH_2k.log", r"Failed password for (?:invalid user )?(\S+)")),
             "root", ("grep", {"pattern": r"Failed password for (?:invalid user )?(\S+)"})),
    Question("ssh_ip", "Which IP address made the most SSH login attempts with invalid user names?",
             "103.99.0.122 (35 attempts)", ("103.99.0.122",),
             lambda d: _top(_count(d / "OpenSSH_2k.log", r"Invalid user \S+ from (\S+)")), "103.99.0.122", ("grep", {"pattern": r"Invalid user \S+ from (\S+)"})),
    Question("apache_error", "Which error message does the Apache server log most often?",
             "'mod_jk child workerEnv in error state 6' (539 lines)", ("workerenv in error state", "error state"),
             lambda d: _top(_count(d / "Apache_2k.log", r"\[error\] (mod_jk child workerEnv in error state)")),
             "mod_jk child workerEnv in error state", ("grep", {"pattern": r"\[error\] (\D+)", "path": "Apache_2k.log"})),
    Question("zk_peer", "Which ZooKeeper election address could the server most often not open a channel to?",
             "/10.10.34.12:3888 (peer 2, 48 times)", ("10.10.34.12",),
             lambda d: _top(_count(d / "Zookeeper_2k.log", r"Cannot open channel to \d+ at election address /?(\S+)")),
             "10.10.34.12:3888",
             ("grep", {"pattern": r"Cannot open channel to \d+ at election address /?(\S+)"})),
    Question("hadoop_attempt", "Why did the Hadoop task attempt attempt_1445144423722_0020_m_000002_0 fail?",
             "java.net.NoRouteToHostException: no route from MININT-FNANLI5 to msra-sa-41:9000",
             ("noroutetohost", "no route to host", "msra-sa-41"),
             lambda d: _top(_count(d / "Hadoop_2k.log",
                                   r"attempt_1445144423722_0020_m_000002_0 - exited : (java\.net\.\w+)")),
             "java.net.NoRouteToHostException",
             ("grep", {"pattern": "attempt_1445144423722_0020_m_000002_0 - exited"})),
]


def enable_prefix_cache(engine: object, mb: int) -> bool:
    """Give an in-process llama.cpp model a RAM cache of evaluated prompt prefixes (llama-cpp-python's
    ``LlamaRAMCache``). Every agent step repeats the same long instructions; without the cache they are
    re-evaluated whenever another prompt (the final answer, the reasoner tool) ran in between. The embedded
    engine does not switch it on by itself, so the benchmark reaches into it here."""
    if not mb or engine is None or not hasattr(engine, "_load"):
        return False
    from llama_cpp import LlamaRAMCache

    engine._load().set_cache(LlamaRAMCache(capacity_bytes=mb << 20))
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="folder with the loghub-2k systems")
    ap.add_argument("--model", default="local")
    ap.add_argument("--max-steps", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=150.0, help="wall-time budget per question (s)")
    ap.add_argument("--only", nargs="*", help="question ids to run")
    ap.add_argument("--prefix-cache-mb", type=int, default=1024,
                    help="llama.cpp prompt-prefix cache for in-process models (0: off)")
    ap.add_argument("--tool-check-only", action="store_true", help="only check that the tools surface the answers")
    ap.add_argument("--out", default="runs/agents_investigator.json")
    args = ap.parse_args(argv)

    from logreasoner.agents.folder_tools import FolderTools
    from logreasoner.agents.investigator import Investigator
    from logreasoner.agents.sandbox import Sandbox
    from logreasoner.lm import engine_of, load_lm

    work = Path(tempfile.mkdtemp(prefix="investigator-"))
    try:
        for s in SYSTEMS:
            shutil.copy(Path(args.data) / s / f"{s}_2k.log", work / f"{s}_2k.log")
        for q in QUESTIONS:  # the known answers really are in the lines
            got = q.derive(work)
            if got != q.expect:
                raise SystemExit(f"{q.id}: the data says {got!r}, the gold says {q.expect!r}")
        # tool check (no model): does one well-chosen tool call surface the answer?
        tools = FolderTools(Sandbox([work]))
        tool_check = {}
        for q in QUESTIONS:
            name, targs = q.reference
            obs = getattr(tools, name)(**targs)
            tool_check[q.id] = {"call": f"{name}({targs})", "answer_in_observation":
                                any(k in obs.lower() for k in q.keywords)}
            print(f"tool check {q.id:15s} {name}({targs}) -> answer shown: "
                  f"{tool_check[q.id]['answer_in_observation']}", flush=True)
        if args.tool_check_only:
            print(json.dumps(tool_check, indent=2))
            return 0
        t0 = time.perf_counter()
        lm = load_lm(args.model, cache=False)  # every run generates: no answers from DSPy's disk cache
        prefix_cache = enable_prefix_cache(engine_of(lm), args.prefix_cache_mb)
        load_s = time.perf_counter() - t0
        rows = []
        for q in QUESTIONS:
            if args.only and q.id not in args.only:
                continue
            inv = Investigator(work, lm=lm, max_steps=args.max_steps, timeout_s=args.timeout)
            r = inv.investigate(q.text)
            t_bg = time.perf_counter()
            inv.wait()  # a call abandoned at the deadline finishes before the next question starts
            background_s = time.perf_counter() - t_bg
            cause = r.cause.lower()
            right = any(k in cause for k in q.keywords)
            grounded = any(any(k in e.text.lower() for k in q.keywords) for e in r.evidence)
            row = {
                "id": q.id, "question": q.text, "gold": q.gold, "right": right, "grounded": grounded,
                "status": r.status, "answered_by": r.answered_by, "seconds": r.seconds, "timeout_s": r.timeout_s,
                "within_budget": r.seconds <= r.timeout_s + inv.grace_s, "background_s": round(background_s, 1),
                "steps": len(r.steps), "lm_calls": r.lm_calls,
                "tools": [s.tool for s in r.steps], "evidence": [e.ref for e in r.evidence],
                "evidence_seen": sum(e.seen for e in r.evidence), "invented_evidence": r.invented_evidence,
                "dropped_evidence": r.dropped_evidence, "cause": r.cause, "next_steps": r.next_steps,
                "format_error": r.format_error,
                "step_log": [{"tool": s.tool, "args": s.args, "seconds": s.seconds, "thought": s.thought[:200],
                              "observation": s.observation[:300]} for s in r.steps],
            }
            rows.append(row)
            print(f"{q.id:15s} right={right!s:5s} grounded={grounded!s:5s} {r.status:12s} {r.seconds:6.1f}s/"
                  f"{r.timeout_s:.0f}s steps={len(r.steps)} calls={r.lm_calls} evidence={len(r.evidence)} "
                  f"invented={r.invented_evidence} tools={[s.tool for s in r.steps]} cause={r.cause[:90]!r}",
                  flush=True)
        eng = engine_of(lm)
        summary = {
            "model": args.model, "prefix_cache": prefix_cache, "max_steps": args.max_steps, "timeout_s": args.timeout, "questions": len(rows),
            "right": sum(r["right"] for r in rows), "grounded": sum(r["grounded"] for r in rows),
            "within_budget": sum(r["within_budget"] for r in rows),
            "max_overshoot_s": round(max((r["seconds"] - r["timeout_s"] for r in rows), default=0.0), 2),
            "evidence_lines": sum(len(r["evidence"]) for r in rows),
            "invented_evidence": sum(r["invented_evidence"] for r in rows),
            "total_seconds": round(sum(r["seconds"] for r in rows), 1), "model_load_s": round(load_s, 2),
            "engine": ({"calls": eng.stats.calls, "input_tokens": eng.stats.input_tokens,
                        "output_tokens": eng.stats.output_tokens, "seconds": round(eng.stats.seconds, 1),
                        "finish_length": eng.stats.finish_length} if eng is not None else None),
            "tool_check_answer_shown": sum(t["answer_in_observation"] for t in tool_check.values()),
            "cpu_count": os.cpu_count(), "load_avg_end": os.getloadavg(),
        }
        print(json.dumps(summary, indent=2))
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"summary": summary, "tool_check": tool_check, "rows": rows}, indent=2,
                                  ensure_ascii=False))
        print(f"wrote {out}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
