"""``logreasoner finetune ...``: the whole run (``run --config finetune.toml``) or one stage at a time.

Every command takes the same ``--config`` (TOML, see :mod:`logreasoner.finetune.config`); ``--run-dir``
overrides the config's run folder. Stages resume: a finished stage is skipped unless ``--force``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

__all__ = ["app"]

app = typer.Typer(help="Distil teacher traces into a local student: traces -> SFT (LoRA) -> mistakes -> DPO.",
                  no_args_is_help=True)

_CONFIG = typer.Option(None, "--config", "-c", help="finetune.toml (see logreasoner.finetune.config)")
_RUN_DIR = typer.Option(None, "--run-dir", help="run folder (overrides run_dir in the config)")
_FORCE = typer.Option(False, "--force", help="rerun the stage even if state.json says it is done")
_JSON = typer.Option(False, "--json", help="print the stage's outputs as JSON")
_DEVICE = typer.Option(None, "--device", help="train on 'cpu' or 'cuda' (overrides device in the config; "
                                              "default 'auto': a GPU when torch sees one)")


def _pipeline(config: Optional[Path], run_dir: Optional[Path], device: Optional[str] = None):
    from logreasoner.finetune.config import load_config
    from logreasoner.finetune.pipeline import Pipeline

    cfg = load_config(config, run_dir=run_dir, device=device)
    return Pipeline(cfg)


def _show(result: dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result, indent=1, default=str))
        return
    for key, value in result.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}={v}" for k, v in value.items() if not isinstance(v, (dict, list)))
            typer.echo(f"{key}: {inner}")
        else:
            typer.echo(f"{key}: {value}")


@app.command()
def run(config: Optional[Path] = _CONFIG, run_dir: Optional[Path] = _RUN_DIR, force: bool = _FORCE,
        stages: Optional[str] = typer.Option(None, "--stages", help="comma-separated subset, e.g. 'sft,mine,dpo'"),
        device: Optional[str] = _DEVICE, as_json: bool = _JSON) -> None:
    """Run every stage (eval too when [eval] enabled = true), resuming finished ones (a training stage killed
    mid-way resumes from its last checkpoint)."""
    p = _pipeline(config, run_dir, device)
    chosen = [s.strip() for s in stages.split(",")] if stages else None
    _show(p.run(chosen, force=force), as_json)
    typer.echo(f"run folder: {p.run_dir}  (load it with --model {p.run_dir})")


@app.command()
def traces(config: Optional[Path] = _CONFIG, run_dir: Optional[Path] = _RUN_DIR, force: bool = _FORCE,
           as_json: bool = _JSON) -> None:
    """Stage 1: teacher traces (LM teacher samples + hinted re-asks, or programmatic experts)."""
    _show(_pipeline(config, run_dir).traces(force=force), as_json)


@app.command("sft-data")
def sft_data(config: Optional[Path] = _CONFIG, run_dir: Optional[Path] = _RUN_DIR, force: bool = _FORCE,
             as_json: bool = _JSON) -> None:
    """Stage 2: thought and stepwise SFT datasets in the program's prompt format, DPP-selected."""
    _show(_pipeline(config, run_dir).sft_data(force=force), as_json)


@app.command()
def sft(config: Optional[Path] = _CONFIG, run_dir: Optional[Path] = _RUN_DIR, force: bool = _FORCE,
        phase: Optional[str] = typer.Option(None, "--phase", help="one phase by name (default: all, in order)"),
        device: Optional[str] = _DEVICE, as_json: bool = _JSON) -> None:
    """Stage 3: SFT with TRL + LoRA (assistant-only loss), phase by phase."""
    _show(_pipeline(config, run_dir, device).sft(phase, force=force), as_json)


@app.command()
def mine(config: Optional[Path] = _CONFIG, run_dir: Optional[Path] = _RUN_DIR, force: bool = _FORCE,
         as_json: bool = _JSON) -> None:
    """Stage 4: run the tuned student on the training set, correct its mistakes into preference pairs."""
    _show(_pipeline(config, run_dir).mine(force=force), as_json)


@app.command()
def dpo(config: Optional[Path] = _CONFIG, run_dir: Optional[Path] = _RUN_DIR, force: bool = _FORCE,
        device: Optional[str] = _DEVICE, as_json: bool = _JSON) -> None:
    """Stage 5: DPO with TRL on the mined pairs, continuing the SFT adapter."""
    _show(_pipeline(config, run_dir, device).dpo(force=force), as_json)


@app.command()
def export(config: Optional[Path] = _CONFIG, run_dir: Optional[Path] = _RUN_DIR, force: bool = _FORCE,
           merge: bool = typer.Option(False, "--merge", help="also write base + adapter merged as a HF folder"),
           as_json: bool = _JSON) -> None:
    """Stage 6: the manifest that makes the run folder a model spec (--model path/to/run)."""
    p = _pipeline(config, run_dir)
    if merge:
        p.cfg.export.merge = True
    _show(p.export(force=force or merge), as_json)


@app.command("eval")
def evaluate(config: Optional[Path] = _CONFIG, run_dir: Optional[Path] = _RUN_DIR, force: bool = _FORCE,
             variants: Optional[str] = typer.Option(None, "--variants", help="e.g. 'base,thought,stepwise,dpo'"),
             as_json: bool = _JSON) -> None:
    """Score base and each stage's adapter through the program on the held-back split."""
    chosen = [v.strip() for v in variants.split(",")] if variants else None
    _show(_pipeline(config, run_dir).evaluate(chosen, force=force), as_json)


@app.command()
def ship(config: Optional[Path] = _CONFIG, run_dir: Optional[Path] = _RUN_DIR,
         to: Path = typer.Option(..., "--to", help="folder for adapter.gguf + card.json (logreasoner/data/student "
                                                   "makes it the embedded `local`)"),
         scores: Optional[Path] = typer.Option(None, "--scores", help="JSON of held-back scores for the card"),
         as_json: bool = _JSON) -> None:
    """Ship the run's final adapter with a provenance card (sources, licences, recipe hash, held-back scores)."""
    from logreasoner.finetune.ship import ship_student

    p = _pipeline(config, run_dir)
    held = json.loads(scores.read_text()) if scores else None
    card = ship_student(p.run_dir, to, recipe=config, held_back=held)
    if as_json:
        typer.echo(json.dumps(card, indent=1, default=str))
    else:
        typer.echo(f"shipped {card['adapter_mb']} MB adapter ({card['final_stage']}) to {to}; "
                   f"{card['training_rows']} training rows from {len(card['sources'])} datasets")


@app.command()
def status(config: Optional[Path] = _CONFIG, run_dir: Optional[Path] = _RUN_DIR) -> None:
    """What state.json says: each stage, its status, wall time and peak memory."""
    from logreasoner.finetune.config import load_config
    from logreasoner.finetune.state import RunState

    cfg = load_config(config, run_dir=run_dir)
    st = RunState(cfg.run_dir)
    if not st.data["stages"]:
        typer.echo(f"{cfg.run_dir}: nothing run yet")
        return
    for name, s in st.data["stages"].items():
        typer.echo(f"{name:16s} {s.get('status', '?'):8s} {s.get('seconds', '')!s:>8}s  "
                   f"peak {s.get('peak_rss_mb', '')!s} MB")
