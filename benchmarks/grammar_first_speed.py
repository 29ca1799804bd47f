"""Constrained decoding speed: the grammar-first sampler vs llama-cpp-python's chain vs free decoding.

The same prompt (cached after the first round, so the figures are decoding only) is answered by the embedded
model three ways: JSON-schema grammar with the grammar-first sampler (`logreasoner/lm/grammar_first.py`), the
same grammar with llama-cpp-python's chain (grammar checked on the whole vocabulary each step), and no grammar.

    python benchmarks/grammar_first_speed.py --threads 1 --rounds 3
"""

from __future__ import annotations

import argparse
import time

from logreasoner.lm.llamacpp import LlamaCppEngine
from logreasoner.lm.registry import resolve_embedded

SCHEMA = {"type": "object", "properties": {"reasoning": {"type": "string", "maxLength": 600}},
          "required": ["reasoning"]}
PROMPT = ("Explain in detail what these log lines mean:\nL1 sshd[12]: Failed password for root from 10.0.0.1 "
          "port 22\nL2 kernel: CPU3 temperature above threshold")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3, help="the first round (prompt evaluation) is not counted")
    args = ap.parse_args()
    path = str(resolve_embedded("local"))
    engines = {gf: LlamaCppEngine(path, n_threads=args.threads, grammar_first=gf, chat_format="chatml")
               for gf in (True, False)}
    arms = {"grammar-first": (True, SCHEMA), "llama-cpp-python chain": (False, SCHEMA), "free": (False, None)}
    totals = {name: [0, 0.0] for name in arms}
    texts: dict[str, str] = {}
    for r in range(args.rounds):
        for name, (gf, schema) in arms.items():
            t0 = time.perf_counter()
            text, _, n_out, _ = engines[gf]._generate([{"role": "user", "content": PROMPT}], schema=schema,
                                                      max_tokens=150, temperature=0.0, stop=None, seed=None,
                                                      top_p=None)
            if r:
                totals[name][0] += n_out
                totals[name][1] += time.perf_counter() - t0
            texts[name] = text
    for name, (n, dt) in totals.items():
        print(f"{name:24s} {n:4d} tokens {dt:6.2f} s {n / dt:6.1f} tokens/s")
    print("grammar-first text == chain text:", texts["grammar-first"] == texts["llama-cpp-python chain"])


if __name__ == "__main__":
    main()
