"""Stage 3 — supervised fine-tuning with ``trl.SFTTrainer`` and a LoRA adapter, assistant-only loss.

Each SFT phase (by default *thought*, then *stepwise* continuing from the thought adapter) trains on its
datasets and saves a PEFT adapter folder. ``[sft.trl]`` goes through to ``SFTConfig``, ``[sft.lora]`` to
``LoraConfig``; CPU-safe defaults (``use_cpu``, no bf16) apply unless the config says otherwise.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from logreasoner.finetune.config import CPU_TRL_DEFAULTS

__all__ = ["train_sft", "train_and_save", "write_run_files", "lora_state", "lora_delta", "trl_args", "set_threads"]


def set_threads(threads: int | None) -> None:
    """Torch intra-op threads. On a loaded shared machine one thread can be several times faster than two."""
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def trl_args(config_cls: Any, output_dir: Path, *layers: dict[str, Any], **fixed: Any) -> Any:
    """A TRL config from CPU defaults, then each override layer in turn, then ``fixed`` (what the stage needs)."""
    import torch

    merged: dict[str, Any] = {}
    if not torch.cuda.is_available():
        merged.update(CPU_TRL_DEFAULTS)
    else:
        merged.update({k: v for k, v in CPU_TRL_DEFAULTS.items() if k not in ("use_cpu", "bf16", "fp16")})
    for layer in layers:
        merged.update(layer or {})
    merged.update(fixed)
    merged["output_dir"] = str(output_dir)
    try:
        return config_cls(**merged)
    except TypeError as e:
        from logreasoner.errors import ConfigError

        raise ConfigError(f"{config_cls.__name__}: {e}", "check the keys of the [sft.trl] / [dpo.trl] table") from None


def lora_state(model: Any, adapter: str = "default") -> dict[str, Any]:
    """A detached copy of the LoRA weights of one adapter."""
    return {k: v.detach().clone() for k, v in model.named_parameters() if "lora_" in k and f".{adapter}." in k}


def lora_delta(before: dict[str, Any], after: dict[str, Any]) -> float:
    """Largest absolute change of any LoRA weight between two snapshots."""
    return max((float((after[k] - before[k]).abs().max()) for k in before if k in after), default=0.0)


def train_sft(dataset: Any, out_dir: Path, *, student: str = "local", init_adapter: Path | None = None,
              lora: dict[str, Any] | None = None, trl: dict[str, Any] | None = None,
              phase_trl: dict[str, Any] | None = None, threads: int | None = None,
              cache_dir: Path | None = None) -> dict[str, Any]:
    """Train one SFT phase; the adapter lands in ``out_dir/adapter``. Returns metrics (losses, timings,
    how far the LoRA weights moved)."""

    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from logreasoner.finetune.student import load_student

    set_threads(threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, tok = load_student(student, adapter=init_adapter, trainable=init_adapter is not None, cache_dir=cache_dir)
    args = trl_args(SFTConfig, out_dir / "trainer", trl or {}, phase_trl or {}, assistant_only_loss=True)
    peft_config = None
    if init_adapter is None:
        peft_config = LoraConfig(task_type="CAUSAL_LM", **(lora or {}))
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tok, peft_config=peft_config)
    run = train_and_save(trainer, out_dir)
    history = [h for h in trainer.state.log_history if "loss" in h]
    metrics = {
        "rows": len(dataset),
        **{k: run[k] for k in ("steps", "train_seconds", "seconds_per_step")},
        "loss_first": history[0]["loss"] if history else None,
        "loss_last": history[-1]["loss"] if history else None,
        "token_accuracy_last": history[-1].get("mean_token_accuracy") if history else None,
        "lora_max_change": run["lora_max_change"],
        "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "adapter": run["adapter"],
    }
    write_run_files(trainer, out_dir, metrics)
    return metrics


def train_and_save(trainer: Any, out_dir: Path) -> dict[str, Any]:
    """Train (timed), measure how far the LoRA weights moved, save the adapter to ``out_dir/adapter``."""
    before = lora_state(trainer.model)
    t0 = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - t0
    after = lora_state(trainer.model)
    adapter_dir = out_dir / "adapter"
    trainer.model.save_pretrained(str(adapter_dir), selected_adapters=["default"])
    steps = int(result.global_step)
    return {"steps": steps, "train_seconds": round(seconds, 1), "seconds_per_step": round(seconds / max(1, steps), 2),
            "lora_max_change": lora_delta(before, after), "adapter": str(adapter_dir)}


def write_run_files(trainer: Any, out_dir: Path, metrics: dict[str, Any]) -> None:
    """The trainer's log history and the stage's metrics, beside the adapter."""
    (out_dir / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
