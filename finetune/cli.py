"""``logreasoner finetune ...``: the whole run (``run --config finetune.toml``) or one stage at a time (one
command per stage declared in :mod:`logreasoner.finetune.stages`, with the options the stage declares, and one per
stage registered before this module is imported: installed packages' ``logreasoner.finetune_stages``).

Every command takes the same ``--config`` (TOML, see :mod:`logreasoner.finetune.config`); ``--run-dir``
overrides the config's run folder. Stages resume: a finished stage is skipped unless ``--force``.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from logreasoner.finetune.stages import pipeline_stages

if TYPE_CHECKING:
    from logreasoner.finetune.stages import Stage

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


# options a built-in stage declares (finetune.stages) beyond --config/--run-dir/--force/--json, by the keyword its
# Pipeline method takes; --device goes to the config instead
_STAGE_OPTIONS: dict[str, tuple[object, object]] = {
    "phase": (Optional[str], typer.Option(None, "--phase", help="one phase by name (default: all, in order)")),
    "device": (Optional[str], _DEVICE),
    "merge": (bool, typer.Option(False, "--merge", help="also write base + adapter merged as a HF folder")),
    "variants": (Optional[str], typer.Option(None, "--variants", help="e.g. 'base,thought,stepwise,dpo'")),
}


def _stage_command(st: "Stage") -> None:
    """``logreasoner finetune <stage>``: the stage (Pipeline.run_stage) with its declared options."""

    def command(config: Optional[Path], run_dir: Optional[Path], force: bool, as_json: bool, **options) -> None:
        p = _pipeline(config, run_dir, options.pop("device", None))
        if options.get("variants"):
            options["variants"] = [v.strip() for v in options["variants"].split(",")]
        _show(p.run_stage(st.name, force=force, **options), as_json)

    unknown = [o for o in st.options if o not in _STAGE_OPTIONS]
    if unknown:
        raise ValueError(f"stage {st.name!r} declares CLI options {unknown} that finetune.cli does not define "
                         "(add them to _STAGE_OPTIONS)")
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("config", kw, default=_CONFIG, annotation=Optional[Path]),
              inspect.Parameter("run_dir", kw, default=_RUN_DIR, annotation=Optional[Path]),
              inspect.Parameter("force", kw, default=_FORCE, annotation=bool)]
    params += [inspect.Parameter(name, kw, default=_STAGE_OPTIONS[name][1], annotation=_STAGE_OPTIONS[name][0])
               for name in st.options]
    params.append(inspect.Parameter("as_json", kw, default=_JSON, annotation=bool))
    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = st.summary
    command.__name__ = st.run if isinstance(st.run, str) else st.name.replace("-", "_")  # the Pipeline method
    app.command(st.name)(command)


for _st in pipeline_stages():
    _stage_command(_st)


@app.command()
def ship(config: Optional[Path] = _CONFIG, run_dir: Optional[Path] = _RUN_DIR,
         to: Path = typer.Option(..., "--to", help="folder for adapter.gguf + card.json (logreasoner/data/student "
                                                   "makes it the embedded `local`)"),
         scores: Optional[list[Path]] = typer.Option(None, "--scores", help=(
             "held-back scores for the card: a JSON by dataset and program, or an eval run's results.json; "
             "repeat it to join several runs (a dataset and program may be scored in one of them only)")),
         scores_model: Optional[str] = typer.Option(None, "--scores-model", help=(
             "the student's model name in that results.json, when the run scored several models")),
         card_only: bool = typer.Option(False, "--card-only", help=(
             "only put the --scores on the card of the student already in --to (its adapter untouched, no run "
             "folder needed): after a change to the program it is asked with")),
         as_json: bool = _JSON) -> None:
    """Ship the run's final adapter with a provenance card (sources, licences, recipe hash, held-back scores)."""
    from logreasoner.finetune.ship import held_back_scores, merge_held_back, rescore_card, ship_student

    held = merge_held_back([(str(s), held_back_scores(s, scores_model)) for s in scores]) if scores else None
    if card_only:
        card = rescore_card(to, held or {})
        if as_json:
            typer.echo(json.dumps(card, indent=1, default=str))
        else:
            typer.echo(f"new held-back scores on the card in {to}: {', '.join(sorted(held or {}))}")
        return
    p = _pipeline(config, run_dir)
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
