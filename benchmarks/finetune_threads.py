"""Threads on a loaded machine: SmolLM2-135M LoRA forward+backward (torch) and constrained decoding (llama.cpp)
with 1 vs 2 threads. On the shared 2-core development machine, 2 threads were several times slower than 1.

    python benchmarks/finetune_threads.py            # prints JSON; takes a few minutes
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

TORCH = r"""
import sys, time, torch, json
torch.set_num_threads(int(sys.argv[1]))
from peft import LoraConfig, get_peft_model
from logreasoner.finetune.student import load_student
m, tok = load_student("local")
m = get_peft_model(m, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj","k_proj","v_proj","o_proj"],
                                 layers_to_transform=list(range(18, 30))))
x = torch.randint(100, 40000, (2, 1000))
times = []
for _ in range(3):
    t = time.time(); out = m(input_ids=x, labels=x); out.loss.backward(); times.append(time.time() - t)
print(json.dumps({"threads": int(sys.argv[1]), "fwd_bwd_2x1000_tokens_s": [round(t, 1) for t in times]}))
"""

LLAMA = r"""
import sys, time, json
from llama_cpp import Llama
from logreasoner.lm.registry import resolve_embedded
llm = Llama(model_path=str(resolve_embedded("local")), n_ctx=2048, n_threads=int(sys.argv[1]), verbose=False)
msgs = [{"role": "user", "content": "Describe a disk failure in a log. Answer in JSON with fields overview and steps."}]
schema = {"type": "object", "properties": {"overview": {"type": "string", "maxLength": 300},
          "steps": {"type": "array", "items": {"type": "string", "maxLength": 300}, "maxItems": 6, "minItems": 1}},
          "required": ["overview", "steps"]}
res = {"threads": int(sys.argv[1])}
for name, fmt in (("warmup", None), ("free", None), ("json_schema", {"type": "json_object", "schema": schema})):
    kw = dict(messages=msgs, max_tokens=80, temperature=0)
    if fmt: kw["response_format"] = fmt
    t = time.time(); out = llm.create_chat_completion(**kw); dt = time.time() - t
    res[name + "_tok_per_s"] = round(out["usage"]["completion_tokens"] / dt, 1)
print(json.dumps(res))
"""


def main() -> int:
    results = {"loadavg_start": os.getloadavg(), "cpus": os.cpu_count(), "runs": []}
    for code in (LLAMA, TORCH):
        for threads in (1, 2):
            t = time.time()
            p = subprocess.run([sys.executable, "-c", code, str(threads)], capture_output=True, text=True, timeout=1800)
            line = [x for x in p.stdout.splitlines() if x.startswith("{")]
            results["runs"].append(json.loads(line[-1]) if line else {"threads": threads, "error": p.stderr[-300:]})
            results["runs"][-1]["wall_s"] = round(time.time() - t, 1)
    results["loadavg_end"] = os.getloadavg()
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
