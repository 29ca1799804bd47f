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

__all__ = ["train_sft", "train_and_save", "write_run_files", "lora_state", "lora_delta", "trl_args", "set_threads",
           "last_checkpoint", "progress_callback", "resolve_device", "lean_sft_trainer_class"]


def set_threads(threads: int | None) -> None:
    """Torch intra-op threads. On a loaded shared machine one thread can be several times faster than two."""
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def resolve_device(device: str = "auto") -> str:
    """'cpu' or 'cuda' for a configured device ('auto': cuda when a GPU is visible)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        from logreasoner.errors import ConfigError

        raise ConfigError("device = 'cuda' but torch sees no GPU",
                          "install a CUDA build of torch on a GPU machine, or set device = 'cpu' / 'auto'")
    return device


def trl_args(config_cls: Any, output_dir: Path, *layers: dict[str, Any], device: str = "auto",
             save_steps: int | None = None, **fixed: Any) -> Any:
    """A TRL config from the device's defaults, then each override layer in turn, then ``fixed`` (what the
    stage needs). ``save_steps`` writes a checkpoint every that many optimizer steps (the last two are kept), so
    a killed stage resumes from the last one. ``bf16 = "auto"`` (the default on a GPU) autocasts where the hardware
    computes in bfloat16 (finetune/precision.py)."""
    from logreasoner.finetune.precision import AUTO, resolve_bf16

    where = resolve_device(device)
    merged: dict[str, Any] = {}
    if where == "cpu":
        merged.update(CPU_TRL_DEFAULTS)
    else:
        merged.update({k: v for k, v in CPU_TRL_DEFAULTS.items() if k not in ("use_cpu", "bf16", "fp16")})
        merged["bf16"] = AUTO
    if save_steps:
        merged.update(save_strategy="steps", save_steps=int(save_steps), save_total_limit=2)
    for layer in layers:
        merged.update(layer or {})
    merged.update(fixed)
    merged["bf16"] = resolve_bf16(merged.get("bf16", False), where)
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


def last_checkpoint(trainer_dir: Path) -> str | None:
    """The newest complete ``checkpoint-<step>`` folder a killed stage left (None when there is none)."""
    best, best_step = None, -1
    for p in Path(trainer_dir).glob("checkpoint-*"):
        try:
            step = int(p.name.split("-", 1)[1])
        except ValueError:
            continue
        if (p / "trainer_state.json").is_file() and step > best_step:
            best, best_step = str(p), step
    return best


def progress_callback(path: Path, label: str = "") -> Any:
    """A ``TrainerCallback`` that keeps ``path`` (JSON) up to date: step, total, seconds, ETA, last loss; and
    prints one line every tenth of the run (the terminal's tqdm bar shows the same live)."""
    import time as _time

    from transformers import TrainerCallback

    class _Progress(TrainerCallback):
        def __init__(self) -> None:
            self.t0 = _time.perf_counter()
            self.first_step: int | None = None
            self.loss: float | None = None
            self.next_print = 0.0

        def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001
            if logs and "loss" in logs:
                self.loss = float(logs["loss"])

        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
            if self.first_step is None:
                self.first_step = state.global_step - 1
            done = state.global_step - self.first_step
            elapsed = _time.perf_counter() - self.t0
            left = max(0, state.max_steps - state.global_step)
            eta = elapsed / max(1, done) * left
            info = {"stage": label, "step": state.global_step, "max_steps": state.max_steps,
                    "elapsed_s": round(elapsed, 1), "eta_s": round(eta, 1), "loss": self.loss,
                    "s_per_step": round(elapsed / max(1, done), 2)}
            Path(path).write_text(json.dumps(info))
            frac = state.global_step / max(1, state.max_steps)
            if frac >= self.next_print:
                self.next_print = frac + 0.1
                print(f"[{label}] step {state.global_step}/{state.max_steps}  {info['s_per_step']} s/step  "
                      f"loss {self.loss}  ETA {eta / 60:.1f} min", flush=True)

    return _Progress()


def lean_sft_trainer_class() -> Any:
    """``SFTTrainer`` whose loss runs the LM head only on the positions that carry a label.

    With assistant-only loss, most positions of a row (the prompt) carry no label, yet TRL's fused head projects
    every position onto the whole vocabulary (49k for SmolLM2) forward and backward: a third of a CPU step. Here
    the hidden states of the labelled positions are gathered first and only they are projected (same loss,
    measured ~30% less time per step on 2 cores); TRL's entropy and token-accuracy metrics are not computed.
    """
    import torch
    import torch.nn.functional as F
    from trl import SFTTrainer

    class LeanSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
            labels = inputs["labels"]
            causal = model.get_base_model() if hasattr(model, "get_base_model") else model
            body = getattr(causal, "model", None)
            head = getattr(causal, "lm_head", None)
            if body is None or head is None:  # not a plain decoder: TRL's own path
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            keep = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "position_ids")}
            hidden = body(**keep, use_cache=False).last_hidden_state
            target = labels[:, 1:]
            mask = target != -100
            logits = head(hidden[:, :-1][mask]).float()
            total = F.cross_entropy(logits, target[mask], reduction="sum")
            n = num_items_in_batch if num_items_in_batch is not None else mask.sum()
            loss = total / torch.as_tensor(n, device=total.device).clamp(min=1)
            return (loss, None) if return_outputs else loss

    return LeanSFTTrainer


def train_sft(dataset: Any, out_dir: Path, *, student: str = "local", init_adapter: Path | None = None,
              lora: dict[str, Any] | None = None, trl: dict[str, Any] | None = None,
              phase_trl: dict[str, Any] | None = None, threads: int | None = None,
              cache_dir: Path | None = None, device: str = "auto", save_steps: int | None = None,
              lean: bool = True) -> dict[str, Any]:
    """Train one SFT phase; the adapter lands in ``out_dir/adapter``. Returns metrics (losses, timings,
    how far the LoRA weights moved)."""

    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from logreasoner.finetune.student import load_student

    set_threads(threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, tok = load_student(student, adapter=init_adapter, trainable=init_adapter is not None, cache_dir=cache_dir)
    args = trl_args(SFTConfig, out_dir / "trainer", trl or {}, phase_trl or {}, device=device,
                    save_steps=save_steps, assistant_only_loss=True)
    peft_config = None
    if init_adapter is None:
        peft_config = LoraConfig(task_type="CAUSAL_LM", **(lora or {}))
    trainer_cls = lean_sft_trainer_class() if lean else SFTTrainer
    trainer = trainer_cls(model=model, args=args, train_dataset=dataset, processing_class=tok, peft_config=peft_config,
                          callbacks=[progress_callback(out_dir / "progress.json", f"sft:{out_dir.name}")])
    run = train_and_save(trainer, out_dir, resume=last_checkpoint(out_dir / "trainer") if save_steps else None)
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
        "resumed_from": run["resumed_from"],
    }
    write_run_files(trainer, out_dir, metrics)
    return metrics


def train_and_save(trainer: Any, out_dir: Path, resume: str | None = None) -> dict[str, Any]:
    """Train (timed; from ``resume``, a checkpoint folder, when given), measure how far the LoRA weights moved,
    save the adapter to ``out_dir/adapter``."""
    before = lora_state(trainer.model)
    t0 = time.perf_counter()
    if resume:
        print(f"resuming from {resume}", flush=True)
    result = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - t0
    after = lora_state(trainer.model)
    adapter_dir = out_dir / "adapter"
    trainer.model.save_pretrained(str(adapter_dir), selected_adapters=["default"])
    steps = int(result.global_step)
    return {"steps": steps, "train_seconds": round(seconds, 1), "seconds_per_step": round(seconds / max(1, steps), 2),
            "lora_max_change": lora_delta(before, after), "adapter": str(adapter_dir), "resumed_from": resume}


def write_run_files(trainer: Any, out_dir: Path, metrics: dict[str, Any]) -> None:
    """The trainer's log history and the stage's metrics, beside the adapter."""
    (out_dir / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
