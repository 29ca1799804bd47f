"""Prompt tokens per model call for every task x program, as an in-process model is asked.

    python benchmarks/prompt_tokens.py                       # this checkout (compact prompts for local models)
    python benchmarks/prompt_tokens.py --json > now.json

To measure an older commit the same way, install it beside this one and run this file against it:

    git worktree add /tmp/old a2470f0 && pip install --no-deps --target /tmp/old-pkg /tmp/old
    PYTHONPATH=/tmp/old-pkg python benchmarks/prompt_tokens.py --json > before.json

A recording in-process engine (grammar-constrained, like ``--model local``) captures the messages of every call
and answers with the smallest JSON its schema allows; tokens are counted with SmolLM2's tokenizer and chat
template (the GGUF's own, through llama.cpp's vocabulary-only loader). Inputs: one log line per task (with the
retrieved expert plans the program shows) and the bundled OpenSSH sample as a file excerpt.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("LOGREASONER_EMBEDDINGS", "0")

LINES = {
    "anomaly": ("- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS "
                "KERNEL FATAL data TLB error interrupt", None),
    "diagnosis": ("OSPF/2/hwOspfv2RecvLsaExceedThreshold:The number of LSAs learned by OSPF exceeded the threshold. "
                  "(hwOspfv2ProcessIdIndex=[hwOspfv2ProcessIdIndex])",
                  ["EventTrap", "communicationsAlarm", "environmentalAlarm", "equipmentAlarm",
                   "processingErrorAlarm", "qualityOfServiceAlarm"]),
    "rca": ("[Fri Jul 28 14:11:15 2017] [http:error] [pid 5912] AH01630: client denied by server configuration: "
            "/var/www/html/index.php", None),
    "parse": ("PacketResponder 2 for block blk_8229193803249955061 terminating", None),
    "interpret": ("Commit failed (details follow): access to '/svn/repo/!svn/act/65bf494c' forbidden", None),
}
PROGRAMS = ("direct", "cot", "coarse_to_fine")


def _minimal(schema: dict, root: dict | None = None) -> object:
    root = root or schema
    if "$ref" in schema:
        return _minimal(root.get("$defs", {}).get(schema["$ref"].split("/")[-1], {}), root)
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _minimal(schema[key][0], root)
    t = schema.get("type")
    if t == "object" or "properties" in schema:
        return {k: _minimal(v, root) for k, v in schema.get("properties", {}).items()}
    if t == "array":
        return [_minimal(schema.get("items", {}), root) for _ in range(max(1, int(schema.get("minItems", 1))))]
    if t == "integer":
        return int(schema.get("minimum", 1)) if schema.get("minimum", 1) > 0 else 1
    if t == "number":
        return 0
    if t == "boolean":
        return False
    return "x"


def _engine_cls():
    from logreasoner.lm.engine_base import LocalEngine

    class Recorder(LocalEngine):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[list[dict]] = []

        def _generate(self, messages, *, schema, max_tokens, temperature, stop, seed, top_p):
            self.calls.append(messages)
            return json.dumps(_minimal(schema or {"type": "object"})), 0, 0, "stop"

    return Recorder


def _tokenizer():
    from llama_cpp import Llama

    from logreasoner.lm.registry import resolve_embedded

    llm = Llama(model_path=str(resolve_embedded("smollm2-135m" if _has("smollm2-135m") else "local")),
                vocab_only=True, verbose=False)
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    tmpl = llm.metadata["tokenizer.chat_template"]
    fmt = Jinja2ChatFormatter(template=tmpl, eos_token="<|im_end|>", bos_token="<|im_start|>")

    def count(messages: list[dict]) -> int:
        text = fmt(messages=messages).prompt
        return len(llm.tokenize(text.encode(), add_bos=False, special=True))

    return count


def _has(name: str) -> bool:
    from logreasoner.lm import registry

    return name in registry.EMBEDDED_MODELS


def measure() -> dict:
    import dspy

    from logreasoner.programs import build_program

    count = _tokenizer()
    sample = Path(__file__).resolve().parent.parent / "logreasoner" / "data" / "samples" / "OpenSSH_2k.log"
    out: dict[str, dict] = {}
    for task, (line, labels) in LINES.items():
        for kind in PROGRAMS:
            for input_name, log in (("line", line), ("file", sample.read_text(encoding="utf-8", errors="replace"))):
                if input_name == "file" and task == "parse":
                    continue  # parsing takes one line
                engine = _engine_cls()()
                lm = dspy.LM("local/recorder", engine=engine, cache=False)
                program = build_program(kind, task)
                with dspy.context(lm=lm):
                    program(log=log, labels=labels)
                out[f"{task}|{kind}|{input_name}"] = {"calls": [count(m) for m in engine.calls]}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--before", help="a JSON file written by this script on an older checkout: print both")
    args = ap.parse_args()
    now = measure()
    if args.json:
        json.dump(now, sys.stdout, indent=1)
        return 0
    before = json.loads(Path(args.before).read_text()) if args.before else {}
    print("| task | program | input | prompt tokens per call, before | now | now / before |")
    print("|---|---|---|---|---|---|")
    for key, v in now.items():
        task, kind, inp = key.split("|")
        b = before.get(key, {}).get("calls")
        ratio = f"{sum(v['calls']) / sum(b):.2f}" if b else ""
        print(f"| {task} | {kind} | {inp} | {' + '.join(map(str, b)) if b else '—'} | "
              f"{' + '.join(map(str, v['calls']))} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
