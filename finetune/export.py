"""Stage 6 — the tuned student as a model spec: ``<run_dir>/logreasoner_model.json`` + the final adapter.

``load_lm(run_dir)`` (``--model path/to/run``) reads the manifest: ``base`` (the student spec), ``adapter``
(the PEFT folder, relative to the run), ``backend`` ("hf"); this stage adds ``gguf_adapter`` (the same adapter as
a llama.cpp GGUF LoRA, for llama.cpp-speed inference on a GGUF base), optionally ``merged`` (base + adapter as
one Hugging Face folder), and records the program settings and tasks the adapter was trained for.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

__all__ = ["write_manifest", "export_run", "merge_adapter"]


def merge_adapter(student: str, adapter_dir: Path, out_dir: Path) -> Path:
    """Base + LoRA merged into plain weights, saved with the tokenizer as a HF folder."""
    from logreasoner.finetune.student import load_student

    model, tok = load_student(student, adapter=adapter_dir, training_template=False)
    merged = model.merge_and_unload()
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir


def write_manifest(run_dir: Path, *, base: str, adapter: str = "adapter", extra: dict[str, Any] | None = None) -> Path:
    from logreasoner.lm import MANIFEST_NAME

    manifest = {"base": base, "adapter": adapter, "backend": "hf", **(extra or {})}
    path = Path(run_dir) / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=1))
    return path


def export_run(run_dir: Path, final_adapter: Path, *, student: str, program: dict, tasks: list[str],
               stage: str, gguf: bool = True, merge: bool = False) -> dict[str, Any]:
    """Copy the final adapter to ``run_dir/adapter``, write the GGUF LoRA / merged folder when asked, and the
    manifest last (so a half-written export never loads)."""
    run_dir = Path(run_dir)
    target = run_dir / "adapter"
    if Path(final_adapter).resolve() != target.resolve():
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(final_adapter, target)
    extra: dict[str, Any] = {"program": program, "tasks": tasks, "trained_by": "logreasoner.finetune",
                             "final_stage": stage}
    out: dict[str, Any] = {"adapter": str(target)}
    if gguf:
        from logreasoner.errors import ModelUnavailableError
        from logreasoner.finetune.models import gguf_adapter_for
        from logreasoner.finetune.student import resolve_student

        _, gguf_file = resolve_student(student)
        if gguf_file is not None:
            try:
                p = gguf_adapter_for(target, student)
                extra["gguf_adapter"] = p.name
                out["gguf_adapter"] = str(p)
            except ModelUnavailableError as e:
                out["gguf_adapter_skipped"] = e.one_line()
        else:
            out["gguf_adapter_skipped"] = "the student is not a GGUF model"
    if merge:
        merged = merge_adapter(student, target, run_dir / "merged")
        out["merged"] = str(merged)
        extra["merged_folder"] = "merged"  # not "merged": load_lm keeps running base + adapter
    out["manifest"] = str(write_manifest(run_dir, base=student, adapter="adapter", extra=extra))
    return out
