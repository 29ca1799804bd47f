"""Stage 5 — DPO with ``trl.DPOTrainer`` on the mined pairs, continuing the SFT LoRA adapter.

The student is loaded with its SFT adapter trainable and no ``ref_model``: TRL (1.16) then keeps a frozen copy of
that adapter as the reference ("ref" adapter on the same base weights), so there is no second copy of the model
and the reference is the SFT policy. The trained adapter (only "default") is saved to ``out_dir/adapter``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from logreasoner.finetune.sft import (
    last_checkpoint,
    progress_callback,
    set_threads,
    train_and_save,
    trl_args,
    write_run_files,
)

__all__ = ["train_dpo", "pairs_dataset"]


def pairs_dataset(pairs: list[dict]) -> Any:
    """Conversational preference rows (prompt / chosen / rejected message lists) as a ``datasets.Dataset``."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]} for p in pairs])


def train_dpo(dataset: Any, out_dir: Path, *, sft_adapter: Path, student: str = "local",
              trl: dict[str, Any] | None = None, threads: int | None = None, measure: bool = False,
              cache_dir: Path | None = None, device: str = "auto", save_steps: int | None = None) -> dict[str, Any]:
    """Train DPO from ``sft_adapter``; returns metrics incl. the chosen-over-rejected reward margins.

    ``measure=True`` also evaluates the mean margin on the training pairs before and after training (extra
    forward passes; the per-step margins in the log history come for free).
    """
    from trl import DPOConfig, DPOTrainer

    from logreasoner.finetune.student import load_student

    set_threads(threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, tok = load_student(student, adapter=sft_adapter, trainable=True, cache_dir=cache_dir)
    args = trl_args(DPOConfig, out_dir / "trainer", trl or {}, device=device, save_steps=save_steps)
    trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=dataset, processing_class=tok,
                         callbacks=[progress_callback(out_dir / "progress.json", "dpo")])
    margin_before = margin_after = None
    if measure:
        margin_before = trainer.evaluate(eval_dataset=dataset).get("eval_rewards/margins")
    run = train_and_save(trainer, out_dir, resume=last_checkpoint(out_dir / "trainer") if save_steps else None)
    if measure:
        margin_after = trainer.evaluate(eval_dataset=dataset).get("eval_rewards/margins")
    history = [h for h in trainer.state.log_history if "rewards/margins" in h]
    metrics = {
        "pairs": len(dataset),
        **{k: run[k] for k in ("steps", "train_seconds", "seconds_per_step")},
        "loss_first": history[0].get("loss") if history else None,
        "loss_last": history[-1].get("loss") if history else None,
        "margin_first_step": history[0]["rewards/margins"] if history else None,
        "margin_last_step": history[-1]["rewards/margins"] if history else None,
        "margin_before": margin_before,
        "margin_after": margin_after,
        "lora_max_change": run["lora_max_change"],
        "reference": "frozen copy of the SFT adapter ('ref'), same base weights",
        "adapter": run["adapter"],
    }
    write_run_files(trainer, out_dir, metrics)
    return metrics
