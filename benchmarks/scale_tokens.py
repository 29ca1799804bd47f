"""Tokens per second of the in-process model through our layer, against llama-cpp-python called directly.

The same requests (the prompts and JSON-schema grammars our program sends for N log lines) run through
(a) the toolkit: ``program(log=...)`` under ``dspy.context(lm=load_lm("local"))`` — DSPy adapter, our engine,
llama.cpp; and (b) a bare ``llama_cpp.Llama`` with the same model file, threads, context and grammar. Calls
alternate between the two so both see the same machine load. tokens/s = generated tokens / wall seconds.

    python benchmarks/scale_tokens.py --n 4      # ~2-4 min on two busy cores
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
    args = ap.parse_args()

    import dspy
    from llama_cpp import Llama

    from logreasoner.lm import engine_of, load_lm
    from logreasoner.programs import build_program

    lines = sample_lines(args.n, args.system)
    lm = load_lm("local", cache=False)
    eng = engine_of(lm)
    program = build_program(args.program, "anomaly")
    captured: list[tuple] = []
    inner = eng._generate

    def recording(messages, **kw):  # keep the exact request for the raw replay
        captured.append((messages, kw["schema"], kw["max_tokens"]))
        return inner(messages, **kw)

    eng._generate = recording
    raw = Llama(model_path=eng.model_path, n_ctx=eng.n_ctx, n_threads=eng.n_threads, seed=eng.seed,
                n_batch=eng.n_batch, verbose=False)

    def ours(line: str) -> tuple[float, int, int]:
        c0, o0 = eng.stats.calls, eng.stats.output_tokens
        t0 = time.perf_counter()
        with dspy.context(lm=lm):
            program(log=line)
        return time.perf_counter() - t0, eng.stats.output_tokens - o0, eng.stats.calls - c0

    def bare(req, grammar: bool = True) -> tuple[float, int, int]:
        messages, schema, max_tokens = req
        if not grammar:
            max_tokens = min(max_tokens, 64)  # unconstrained, the tiny model rambles to max_tokens: cap it
        kw = dict(messages=messages, max_tokens=max_tokens, temperature=0.0, seed=eng.seed)
        if grammar and schema is not None:
            kw["response_format"] = {"type": "json_object", "schema": schema}
        t0 = time.perf_counter()
        out = raw.create_chat_completion(**kw)
        return time.perf_counter() - t0, int(out["usage"]["completion_tokens"]), int(out["usage"]["prompt_tokens"])

    ours(lines[0])  # warm-up: load the model (not timed)
    bare(captured[-1])
    captured.clear()
    load0 = os.getloadavg()[0]
    tot = {"ours": [0.0, 0, 0], "raw": [0.0, 0, 0], "raw_free": [0.0, 0, 0]}
    eng_s0 = eng.stats.seconds
    prompt_tokens = 0
    for line in lines:
        start = len(captured)
        s, toks, calls = ours(line)
        tot["ours"][0] += s
        tot["ours"][1] += toks
        tot["ours"][2] += calls
        for req in captured[start:]:
            s, toks, p = bare(req)
            tot["raw"][0] += s
            tot["raw"][1] += toks
            tot["raw"][2] += 1
            prompt_tokens += p
    for req in captured:  # the same prompts without the grammar (64 tokens at most): what the grammar costs
        s, toks, _ = bare(req, grammar=False)
        tot["raw_free"][0] += s
        tot["raw_free"][1] += toks
        tot["raw_free"][2] += 1
    eng_s = eng.stats.seconds - eng_s0
    load1 = os.getloadavg()[0]
    tps = {k: (v[1] / v[0] if v[0] else 0.0) for k, v in tot.items()}
    print(f"{len(lines)} {args.system} lines, program={args.program}, {tot['raw'][2]} requests, "
          f"mean prompt {prompt_tokens / max(1, tot['raw'][2]):.0f} tokens; load average {load0:.2f} -> {load1:.2f}")
    print("| path | requests | generated tokens | seconds | tokens/s | vs raw |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| llama-cpp-python direct (same prompt + JSON-schema grammar) | {tot['raw'][2]} | {tot['raw'][1]} | "
          f"{tot['raw'][0]:.1f} | {tps['raw']:.1f} | 1.00 |")
    print(f"| ours: program -> DSPy adapter -> engine -> llama.cpp | {tot['ours'][2]} | {tot['ours'][1]} | "
          f"{tot['ours'][0]:.1f} | {tps['ours']:.1f} | {tps['ours'] / tps['raw']:.2f} |")
    print(f"| ours, inside the engine only (generation timer) | {tot['ours'][2]} | {tot['ours'][1]} | "
          f"{eng_s:.1f} | {tot['ours'][1] / eng_s:.1f} | {tot['ours'][1] / eng_s / tps['raw']:.2f} |")
    print(f"| llama-cpp-python direct, no grammar, <= 64 tokens (reference) | {tot['raw_free'][2]} | {tot['raw_free'][1]} | "
          f"{tot['raw_free'][0]:.1f} | {tps['raw_free']:.1f} | {tps['raw_free'] / tps['raw']:.2f} |")
    over = tot["ours"][0] - eng_s
    print(f"\nlayer overhead outside generation (DSPy formatting, parsing, our engine): {over:.2f} s over "
          f"{tot['ours'][2]} requests = {1000 * over / max(1, tot['ours'][2]):.0f} ms per request")


if __name__ == "__main__":
    main()
