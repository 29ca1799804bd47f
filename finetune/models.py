"""The student as a DSPy LM for mining and evaluation: base or base + a stage's adapter.

On a GGUF student (the embedded SmolLM2) with llama.cpp installed, an adapter runs as a GGUF LoRA on llama.cpp
(several times faster than transformers on a CPU); otherwise base + PEFT adapter run on the transformers engine
(``logreasoner.lm.hf.TransformersEngine``) through ``load_lm``. Both are schema-constrained like ``--model local``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["student_lm", "gguf_adapter_for", "choose_backend"]


def choose_backend(student: str, backend: str = "auto") -> str:
    from logreasoner.finetune.student import resolve_student
    from logreasoner.lm.engines import get_engine

    if backend != "auto":
        get_engine(backend)  # an unknown backend fails here, naming the known ones
        return backend
    _, gguf = resolve_student(student)
    return "llamacpp" if gguf and get_engine("llamacpp").available() else "hf"


def gguf_adapter_for(adapter_dir: Path, student: str) -> Path:
    """``<adapter_dir>.gguf`` next to the PEFT folder, written when missing or older than the adapter."""
    from logreasoner.finetune.gguf_lora import export_gguf_lora
    from logreasoner.finetune.student import ensure_student_folder

    adapter_dir = Path(adapter_dir)
    out = adapter_dir.with_suffix(".gguf")
    src = adapter_dir / "adapter_model.safetensors"
    if not out.is_file() or (src.is_file() and out.stat().st_mtime < src.stat().st_mtime):
        export_gguf_lora(adapter_dir, out, base_config=ensure_student_folder(student))
    return out


def student_lm(student: str = "local", adapter: Path | None = None, *, backend: str = "auto",
               threads: int | None = None, max_tokens: int | None = None, temperature: float = 0.0,
               n_ctx: int = 4096) -> Any:
    """A ``dspy.LM`` (cache off) for the student, optionally with a PEFT adapter folder."""
    import dspy

    from logreasoner.finetune.student import resolve_student

    backend = choose_backend(student, backend)
    extra = {"max_tokens": max_tokens} if max_tokens else {}
    tag = f"+{Path(adapter).parent.name}" if adapter else ""
    if backend == "llamacpp":
        from logreasoner.lm.engines import make_engine

        folder, gguf = resolve_student(student)
        if gguf is None:
            from logreasoner.errors import ModelUnavailableError

            raise ModelUnavailableError(f"student {student!r} is not a GGUF model", "use backend 'hf'")
        lora = str(gguf_adapter_for(Path(adapter), student)) if adapter else None
        engine = make_engine("llamacpp", str(folder / gguf), adapter=lora, threads=threads, n_ctx=n_ctx)
        return dspy.LM(f"local/{gguf}{tag}@llamacpp", engine=engine, temperature=temperature, cache=False, **extra)
    from logreasoner.lm import load_lm

    spec = student if str(student).startswith("hf:") else f"hf:{student}"
    return load_lm(spec, adapter=str(adapter) if adapter else None, temperature=temperature, cache=False,
                   max_tokens=max_tokens)
