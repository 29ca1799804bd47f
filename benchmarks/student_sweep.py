"""The LoRA sweep behind the student recipe: rank and target modules, picked on the dev split.

    python benchmarks/student_sweep.py --run-dir runs/student        # after the recipe's traces + sft-data stages

Each configuration trains one short SFT phase on the same rows (a fixed, seeded sample of the run's thought,
stepwise and direct rows, all from train splits) and is scored with the ``direct`` program on a fixed sample of
the *dev* splits (never test): anomaly F1 on BGL lines, accuracy on LogInstruct alarm causes, template exact
match on Loghub lines. Results go to ``<run-dir>/sweep/results.json`` (configurations already there are not
trained again) and print as a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ATTN = ["q_proj", "k_proj", "v_proj", "o_proj"]
ALL = ATTN + ["gate_proj", "up_proj", "down_proj"]
TOP12 = list(range(18, 30))
CONFIGS = {
    "r8-attn-top12": {"r": 8, "lora_alpha": 16, "target_modules": ATTN, "layers_to_transform": TOP12},
    "r8-all-top12": {"r": 8, "lora_alpha": 16, "target_modules": ALL, "layers_to_transform": TOP12},
    "r16-attn-top12": {"r": 16, "lora_alpha": 32, "target_modules": ATTN, "layers_to_transform": TOP12},
    "r16-all-top12": {"r": 16, "lora_alpha": 32, "target_modules": ALL, "layers_to_transform": TOP12},
}
DEV = (("bgl_anomaly", 24), ("loginstruct_alarm_cause", 20), ("loghub_parse", 20))


def _rows(data_dir: Path, n: dict[str, int], seed: int = 0):
    from datasets import concatenate_datasets

    from logreasoner.finetune.sft_data import load_sft_dataset

    parts = []
    for kind, k in n.items():
        ds = load_sft_dataset(data_dir, [kind]).shuffle(seed=seed)
        parts.append(ds.select(range(min(k, len(ds)))))
    return concatenate_datasets(parts).shuffle(seed=seed)


def _dev_examples():
    from logreasoner.evals import load_dataset

    out = []
    for name, n in DEV:
        exs = load_dataset(name, split="dev")
        if name == "bgl_anomaly":  # half abnormal, so F1 says something at n = 24
            ab = [e for e in exs if e.answer == "abnormal"][: n // 2]
            exs = ab + [e for e in exs if e.answer == "normal"][: n - len(ab)]
        out.append((name, exs[:n]))
    return out


def _score(adapter: Path, dev) -> dict:
    import dspy

    from logreasoner.evals.metrics import normalize_template
    from logreasoner.finetune.models import student_lm
    from logreasoner.programs import build_program
    from logreasoner.tasks import get_task

    lm = student_lm("local-base", adapter, max_tokens=300)
    out = {}
    for name, exs in dev:
        task = get_task(exs[0].task)
        program = build_program("direct", task)
        golds, preds = [], []
        t0 = time.perf_counter()
        for ex in exs:
            with dspy.context(lm=lm):
                pred = program(log=ex.get("log"), question=ex.get("question"), labels=ex.get("labels"))
            golds.append(ex.answer)
            preds.append(task.primary(pred.answer) if pred.answer is not None else None)
        if task.name == "anomaly":
            tp = sum(g == p == "abnormal" for g, p in zip(golds, preds))
            fp = sum(g != "abnormal" and p == "abnormal" for g, p in zip(golds, preds))
            fn = sum(g == "abnormal" and p != "abnormal" for g, p in zip(golds, preds))
            score = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        elif task.name == "parse":
            score = sum(p is not None and normalize_template(g) == normalize_template(p)
                        for g, p in zip(golds, preds)) / len(golds)
        else:
            score = sum(g == p for g, p in zip(golds, preds)) / len(golds)
        out[name] = {"score": round(score, 3), "n": len(exs), "s_per_example": round((time.perf_counter() - t0) / len(exs), 2)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default="runs/student")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--rows", default="thought=40,stepwise=80,direct=40")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    run_dir = Path(args.run_dir).resolve()
    out_dir = run_dir / "sweep"
    out_dir.mkdir(parents=True, exist_ok=True)
    res_path = out_dir / "results.json"
    results = json.loads(res_path.read_text()) if res_path.is_file() else {}
    n = {k: int(v) for k, v in (x.split("=") for x in args.rows.split(","))}
    rows = _rows(run_dir / "data", n)
    dev = _dev_examples()
    from logreasoner.finetune.sft import train_sft

    for name in [c.strip() for c in args.configs.split(",")]:
        if name in results:
            continue
        t0 = time.perf_counter()
        done = out_dir / name / "metrics.json"
        if done.is_file() and (out_dir / name / "adapter" / "adapter_config.json").is_file():
            m = json.loads(done.read_text())  # trained before the scoring was interrupted
            train_s = m["train_seconds"]
        else:
            m = train_sft(rows, out_dir / name, student="local-base", lora=CONFIGS[name], threads=args.threads,
                          trl={"num_train_epochs": 1, "per_device_train_batch_size": 8, "learning_rate": 1e-3,
                               "lr_scheduler_type": "constant", "max_length": 1400, "bf16": True,
                               "train_sampling_strategy": "group_by_length"})
            train_s = time.perf_counter() - t0
        scores = _score(Path(m["adapter"]), dev)
        results[name] = {"lora": CONFIGS[name], "rows": len(rows), "train_seconds": round(train_s, 1),
                         "seconds_per_step": m["seconds_per_step"], "loss_first": m["loss_first"],
                         "loss_last": m["loss_last"], "trainable_parameters": m["trainable_parameters"],
                         "dev": scores}
        res_path.write_text(json.dumps(results, indent=1))
        print(name, json.dumps(results[name]), flush=True)
    print("| config | trainable | s/step | loss first -> last | " + " | ".join(d for d, _ in DEV) + " |")
    print("|---|---|---|---|" + "---|" * len(DEV))
    for name, r in results.items():
        cells = " | ".join(f"{r['dev'][d]['score']:.3f}" for d, _ in DEV)
        print(f"| {name} | {r['trainable_parameters']:,} | {r['seconds_per_step']} | "
              f"{r['loss_first']:.3f} -> {r['loss_last']:.3f} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
