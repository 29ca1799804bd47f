"""Does a student's anomaly verdict carry signal, and where does its threshold sit?

For each example the `direct` program's prompt (built by the program and adapter the model is asked with) is
evaluated up to the verdict's first token, ``{"verdict": "``; the margin is the best logit of a token that begins
``abnormal`` minus the best of one that begins ``normal`` (greedy decoding answers ``abnormal`` when it is > 0).
Printed per dataset: AUROC of the margins against the gold labels, F1 of greedy decoding (threshold 0), F1 with
content-free calibration (threshold = the margin of the log line ``N/A``, Zhao et al. 2021), and, with a dev
split beside the test split, F1 on test at the threshold that is best on dev.

    python benchmarks/verdict_margins.py --model local -d bgl_anomaly -d loglm_anomaly -d loginstruct_is_error
    python benchmarks/verdict_margins.py --model runs/student-prior --dev-limit 200 --limit 100

Single-line anomaly datasets only (the verdict of a window is judged the same way, with longer prompts).
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PREFIX = '{"verdict": "'


def prompts(lm, examples) -> list[list[dict]]:
    """The messages the direct program sends for each example (the engine is not run)."""
    import dspy

    from logreasoner.lm import engine_of
    from logreasoner.programs.resolve import resolve_program

    engine = engine_of(lm)
    captured: list = []
    real = engine._generate

    def record(messages, **_):
        captured.append(messages)
        return ('{"verdict": "normal", "evidence_lines": []}', 0, 0, "stop")

    engine._generate = record
    try:
        program = resolve_program("direct", examples[0]["task"])
        out = []
        for ex in examples:
            captured.clear()
            with dspy.context(lm=lm):
                program(log=ex["log"], question=ex.get("question"), labels=ex.get("labels"))
            out.append(captured[-1])
        return out
    finally:
        engine._generate = real


class Margins:
    def __init__(self, lm) -> None:
        from llama_cpp import Llama

        from logreasoner.lm import engine_of

        eng = engine_of(lm)
        self.llm = Llama(model_path=eng.model_path, lora_path=eng.lora_path, n_ctx=4096, n_threads=eng.n_threads,
                         verbose=False)
        vocab = [self.llm.detokenize([t]).decode("utf-8", "ignore") for t in range(self.llm.n_vocab())]
        self.abnormal = [t for t, p in enumerate(vocab) if p and "abnormal".startswith(p)]
        self.normal = [t for t, p in enumerate(vocab) if p and "normal".startswith(p)]

    def __call__(self, messages: list[dict]) -> float:
        import numpy as np

        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        toks = self.llm.tokenize((text + "<|im_start|>assistant\n" + PREFIX).encode(), add_bos=False, special=True)
        self.llm.reset()
        self.llm.eval(toks)
        logits = np.ctypeslib.as_array(self.llm._ctx.get_logits_ith(-1), shape=(self.llm.n_vocab(),))
        return float(logits[self.abnormal].max() - logits[self.normal].max())


def f1(margins, gold, threshold: float) -> float:
    """F1 of answering ``abnormal`` above ``threshold`` (the evals' own binary F1)."""
    from logreasoner.evals.metrics import binary_prf

    return binary_prf(["abnormal" if g else "normal" for g in gold],
                      ["abnormal" if m > threshold else "normal" for m in margins])["f1"]


def auroc(margins, gold) -> float:
    pos = [m for m, g in zip(margins, gold) if g]
    neg = [m for m, g in zip(margins, gold) if not g]
    if not pos or not neg:
        return float("nan")
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def best_threshold(margins, gold) -> float:
    cands = sorted(set(margins))
    return max(cands, key=lambda t: (f1(margins, gold, t - 1e-9), -abs(t))) - 1e-9 if cands else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="local", help="a model spec with a GGUF base (local, a finetune run folder)")
    ap.add_argument("-d", "--dataset", action="append", help="anomaly datasets of single lines")
    ap.add_argument("--limit", type=int, default=100, help="test examples per dataset (stratified)")
    ap.add_argument("--dev-limit", type=int, default=0, help="dev examples per dataset to pick a threshold on")
    args = ap.parse_args()
    import dspy

    from logreasoner.evals.datasets import load_dataset
    from logreasoner.lm import load_lm

    lm = load_lm(args.model, cache=False)
    margin = Margins(lm)
    print("| dataset | n test (abnormal) | AUROC | F1 greedy (0) | content-free threshold | F1 content-free "
          "| dev threshold | F1 at dev threshold |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.dataset or ["bgl_anomaly", "loglm_anomaly", "loginstruct_is_error"]:
        test = load_dataset(name, split="test", limit=args.limit)
        none = dspy.Example(log="N/A", question=None, labels=None, answer="normal", task=test[0]["task"],
                            meta={}).with_inputs("log")
        ms = [margin(m) for m in prompts(lm, [*test, none])]
        free, ms = ms[-1], ms[:-1]
        gold = [ex["answer"] == "abnormal" for ex in test]
        row = [f"{len(test)} ({sum(gold)})", f"{auroc(ms, gold):.3f}", f"{f1(ms, gold, 0.0):.3f}", f"{free:.2f}",
               f"{f1(ms, gold, free):.3f}"]
        if args.dev_limit:
            dev = load_dataset(name, split="dev", limit=args.dev_limit)
            dms = [margin(m) for m in prompts(lm, dev)]
            t = best_threshold(dms, [ex["answer"] == "abnormal" for ex in dev])
            row += [f"{t:.2f}", f"{f1(ms, gold, t):.3f}"]
        else:
            row += ["-", "-"]
        print(f"| {name} | " + " | ".join(row) + " |", flush=True)
    print(json.dumps({"model": args.model, "limit": args.limit, "dev_limit": args.dev_limit}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
