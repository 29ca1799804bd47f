"""Tokens per second of the in-process model through our layer, against llama-cpp-python called directly.

The same requests (the prompts and JSON-schema grammars our program sends for N log lines) run through
(a) the toolkit: ``program(log=...)`` under ``dspy.context(lm=load_lm("local"))`` — DSPy adapter, our engine,
llama.cpp; and (b) a bare ``llama_cpp.Llama`` with the same model file, threads, context and grammar. A first, untimed pass
records the requests; then per line both paths run, alternating which goes first, so load bursts hit both. tokens/s = generated tokens / wall seconds.

    python benchmarks/scale_tokens.py --n 4      # ~5-8 min on two busy cores
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

LOGHUB = Path(os.environ.get("LOGREASONER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) \
    / "loghub-2k"


def sample_lines(n: int, system: str) -> list[str]:
    from logreasoner.scale import scan_stream

    with scan_stream(LOGHUB / system / f"{system}_2k.log", spool=False) as scan:
        return [t.examples[0] for t in list(scan.templates.values())[:n]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--system", default="OpenSSH")
    ap.add_argument("--program", default="direct")
    ap.add_argument("--threads", type=int, default=1,
                    help="llama.cpp threads for both paths; with 1 the work runs on the calling thread, so its CPU "
                         "time (time.thread_time) is a load-independent measure")
    args = ap.parse_args()

    import dspy
    from llama_cpp import Llama

    from logreasoner.lm import engine_of, load_lm
    from logreasoner.programs import build_program

    lines = sample_lines(args.n, args.system)
    lm = load_lm("local", cache=False)
    eng = engine_of(lm)
    eng.n_threads = args.threads  # before the lazy load
    program = build_program(args.program, "anomaly")
    captured: list[tuple] = []
    inner = eng._generate

    def recording(messages, **kw):  # keep the exact request for the raw replay
        captured.append((messages, kw["schema"], kw["max_tokens"]))
        return inner(messages, **kw)

    eng._generate = recording
    raw = Llama(model_path=eng.model_path, n_ctx=eng.n_ctx, n_threads=args.threads, seed=eng.seed,
                n_batch=eng.n_batch, verbose=False)

    engine_seconds = [0.0]
    cpu = [0.0]  # ours
    cpu_raw = [0.0]

    def ours(line: str) -> tuple[float, int, int]:
        c0, o0, g0 = eng.stats.calls, eng.stats.output_tokens, eng.stats.seconds
        t0, cpu0 = time.perf_counter(), time.thread_time()
        with dspy.context(lm=lm):
            program(log=line)
        engine_seconds[0] += eng.stats.seconds - g0
        cpu[0] += time.thread_time() - cpu0
        return time.perf_counter() - t0, eng.stats.output_tokens - o0, eng.stats.calls - c0

    def bare(req, grammar: bool = True) -> tuple[float, int, int]:
        messages, schema, max_tokens = req
        if not grammar:
            max_tokens = min(max_tokens, 64)  # unconstrained, the tiny model rambles to max_tokens: cap it
        kw = dict(messages=messages, max_tokens=max_tokens, temperature=0.0, seed=eng.seed)
        if grammar and schema is not None:
            kw["response_format"] = {"type": "json_object", "schema": schema}
        t0, c0 = time.perf_counter(), time.thread_time()
        out = raw.create_chat_completion(**kw)
        if grammar:
            cpu_raw[0] += time.thread_time() - c0
        return time.perf_counter() - t0, int(out["usage"]["completion_tokens"]), int(out["usage"]["prompt_tokens"])

    ours(lines[0])  # warm-up: load the model (not timed)
    bare(captured[-1])
    captured.clear()
    load0 = os.getloadavg()[0]
    tot = {"ours": [0.0, 0, 0], "raw": [0.0, 0, 0], "raw_free": [0.0, 0, 0]}
    prompt = [0]
    per_line: list[list] = []
    for line in lines:  # capture pass (not timed): the exact requests each line makes, for the raw replay
        start = len(captured)
        ours(line)
        per_line.append(captured[start:])
    for req in per_line[-1]:  # leave the raw model's KV cache where ours is (after the last line): fair prefixes
        bare(req)
    ratios: list[float] = []
    engine_seconds[0] = cpu[0] = cpu_raw[0] = 0.0
    for i, (line, reqs) in enumerate(zip(lines, per_line)):
        def run_ours() -> float:
            s, toks, calls = ours(line)
            tot["ours"][0] += s
            tot["ours"][1] += toks
            tot["ours"][2] += calls
            return toks / s if s else 0.0

        def run_raw() -> float:
            s_all, t_all = 0.0, 0
            for req in reqs:
                s, toks, p = bare(req)
                s_all, t_all = s_all + s, t_all + toks
                tot["raw"][0] += s
                tot["raw"][1] += toks
                tot["raw"][2] += 1
                prompt[0] += p
            return t_all / s_all if s_all else 0.0

        if i % 2 == 0:  # alternate which path goes first, so load bursts hit both alike
            o = run_ours()
            r = run_raw()
        else:
            r = run_raw()
            o = run_ours()
        if r:
            ratios.append(o / r)
    eng_s = engine_seconds[0]
    for req in (r for reqs in per_line for r in reqs):  # the same prompts without the grammar (64 tokens at most): what the grammar costs
        s, toks, _ = bare(req, grammar=False)
        tot["raw_free"][0] += s
        tot["raw_free"][1] += toks
        tot["raw_free"][2] += 1
    load1 = os.getloadavg()[0]
    tps = {k: (v[1] / v[0] if v[0] else 0.0) for k, v in tot.items()}
    print(f"{len(lines)} {args.system} lines, program={args.program}, {tot['raw'][2]} requests, "
          f"mean prompt {prompt[0] / max(1, tot['raw'][2]):.0f} tokens; load average {load0:.2f} -> {load1:.2f}")
    print(f"llama.cpp threads: {args.threads}; CPU seconds of the calling thread: raw {cpu_raw[0]:.1f} s "
          f"({tot['raw'][1] / cpu_raw[0]:.1f} tokens per CPU-s), ours {cpu[0]:.1f} s "
          f"({tot['ours'][1] / cpu[0]:.1f} tokens per CPU-s): ours/raw {cpu_raw[0] / cpu[0]:.2f}")
    print("| path | requests | generated tokens | wall seconds | tokens/s | vs raw |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| llama-cpp-python direct (same prompt + JSON-schema grammar) | {tot['raw'][2]} | {tot['raw'][1]} | "
          f"{tot['raw'][0]:.1f} | {tps['raw']:.1f} | 1.00 |")
    print(f"| ours: program -> DSPy adapter -> engine -> llama.cpp | {tot['ours'][2]} | {tot['ours'][1]} | "
          f"{tot['ours'][0]:.1f} | {tps['ours']:.1f} | {tps['ours'] / tps['raw']:.2f} |")
    print(f"| ours, inside the engine only (generation timer) | {tot['ours'][2]} | {tot['ours'][1]} | "
          f"{eng_s:.1f} | {tot['ours'][1] / eng_s:.1f} | {tot['ours'][1] / eng_s / tps['raw']:.2f} |")
    print(f"| llama-cpp-python direct, no grammar, <= 64 tokens (reference) | {tot['raw_free'][2]} | {tot['raw_free'][1]} | "
          f"{tot['raw_free'][0]:.1f} | {tps['raw_free']:.1f} | {tps['raw_free'] / tps['raw']:.2f} |")
    import statistics

    print(f"\nper line, ours/raw tokens/s ratio: median {statistics.median(ratios):.2f}, "
          f"range {min(ratios):.2f}-{max(ratios):.2f}")
    over = tot["ours"][0] - eng_s
    print(f"\nlayer overhead outside generation (DSPy formatting, parsing, our engine): {over:.2f} s over "
          f"{tot['ours'][2]} requests = {1000 * over / max(1, tot['ours'][2]):.0f} ms per request")


if __name__ == "__main__":
    main()
