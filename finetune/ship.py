"""Shipping a trained student as an embedded model: its GGUF LoRA and a provenance card inside the package.

``ship_student(run_dir, dest)`` copies the run's final adapter (``adapter.gguf``, the llama.cpp LoRA written by the
export stage) to ``dest`` (``logreasoner/data/student`` for the embedded ``local``) and writes ``card.json``
beside it: the base model, the recipe and its sha256, every stage with its figures, the training rows per
dataset with each dataset's source and licence, and the held-back scores the caller measured. ``logreasoner
models list`` prints the card. Only data whose licence allows shipping may be in a shipped student's training
set: a dataset marked as not bundleable (``DatasetSpec.bundled`` false) makes this refuse.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from logreasoner.errors import ConfigError

__all__ = ["ship_student", "rescore_card", "training_sources", "held_back_scores", "merge_held_back",
           "MAX_ADAPTER_MB"]

MAX_ADAPTER_MB = 20.0


def training_sources(run_dir: Path) -> list[dict[str, Any]]:
    """Training rows per dataset (every SFT kind) with the dataset's task, source and licence."""
    from logreasoner.evals import get_dataset

    counts: dict[str, dict[str, int]] = {}
    for f in sorted((Path(run_dir) / "data").glob("*.jsonl")):
        kind = f.stem
        with f.open(encoding="utf-8") as fh:
            for line in fh:
                ds = json.loads(line).get("dataset") or "(unnamed)"
                counts.setdefault(ds, {}).setdefault(kind, 0)
                counts[ds][kind] += 1
    out = []
    for name in sorted(counts):
        try:
            spec = get_dataset(name)
            info = {"task": spec.task, "source": spec.source, "licence": spec.licence, "bundled": spec.bundled}
        except Exception:  # a JSONL file of the user's: no registry entry
            info = {"task": None, "source": name, "licence": "unknown", "bundled": False}
        out.append({"name": name, "rows": sum(counts[name].values()), "rows_by_kind": counts[name], **info})
    return out


def _relative(value: Any, run_dir: Path) -> Any:
    """A path inside the run folder as a path relative to it: the card ships, the builder's folders do not."""
    if not isinstance(value, str):
        return value
    for root in {str(run_dir), str(run_dir.resolve())}:
        if value == root or value.startswith(root.rstrip("/") + "/"):
            return value[len(root):].lstrip("/") or "."
    return value


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def held_back_scores(path: str | Path, model: str | None = None) -> dict[str, Any]:
    """The card's held-back scores from ``path``: a JSON of scores by dataset and program as the card keeps them,
    or an eval run's ``results.json`` (``logreasoner eval run ... --split test``), whose cells of the student's
    model become the table (``model`` picks one when the run scored several; baselines are left out)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read held-back scores from {path}: {e}",
                          "pass a scores JSON or an eval run's results.json") from None
    if not isinstance(data, dict) or "cells" not in data:
        return data
    cells = [c for c in data["cells"] if c.get("model") not in (None, "-")]
    models = sorted({c["model"] for c in cells})
    if model is not None:
        cells = [c for c in cells if c["model"] == model]
    elif len(models) > 1:
        raise ConfigError(f"{path} holds the cells of several models ({', '.join(models)})",
                          "name the shipped student's with --scores-model")
    if not cells:
        raise ConfigError(f"{path} holds no cell of a model{f' named {model!r}' if model else ''}",
                          "pass the results.json of an eval run of the student")
    splits = sorted({c.get("split") for c in cells} - {"test"}, key=str)
    if splits:
        raise ConfigError(f"{path} holds cells of the {', '.join(map(str, splits))} split, not held-back test scores",
                          "run the eval with --split test")
    out: dict[str, Any] = {}
    for c in cells:
        out.setdefault(c["dataset"], {})[c["program"]] = {
            c["primary_metric"]: round(float(c["score"]), 4), "n": c["n"],
            "format_failure_rate": round(float(c.get("format_failure_rate") or 0.0), 4),
            "degenerate_rate": round(float(c.get("degenerate_rate") or 0.0), 4)}
    return out


def merge_held_back(tables: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """One held-back table from several (``(source, table)`` pairs, e.g. an n = 100 run and a suite of the free-text
    datasets). A dataset and program scored in two of them is an error: the card would keep one without saying."""
    out: dict[str, Any] = {}
    seen: dict[tuple[str, str], str] = {}
    for source, table in tables:
        for dataset, programs in table.items():
            for program, figures in programs.items():
                if (dataset, program) in seen:
                    raise ConfigError(f"{dataset} / {program} is scored in both {seen[dataset, program]} and {source}",
                                      "pass each dataset's scores once (drop it from one run, or pass one file)")
                seen[dataset, program] = source
                out.setdefault(dataset, {})[program] = figures
    return out


def ship_student(run_dir: str | Path, dest: str | Path, *, recipe: str | Path | None = None,
                 held_back: dict[str, Any] | None = None, allow_unshippable: bool = False) -> dict[str, Any]:
    """Copy the run's final GGUF adapter to ``dest/adapter.gguf`` and write ``dest/card.json``; returns the card."""
    run_dir, dest = Path(run_dir), Path(dest)
    manifest_path = run_dir / "logreasoner_model.json"
    if not manifest_path.is_file():
        raise ConfigError(f"{run_dir} has no logreasoner_model.json", "run the 'export' stage first")
    manifest = json.loads(manifest_path.read_text())
    gguf = manifest.get("gguf_adapter")
    if not gguf or not (run_dir / gguf).is_file():
        raise ConfigError(f"{run_dir}: no GGUF adapter to ship", "export with [export] gguf_adapter = true on a GGUF base")
    size_mb = (run_dir / gguf).stat().st_size / 2**20
    if size_mb > MAX_ADAPTER_MB:
        raise ConfigError(f"the adapter is {size_mb:.1f} MB, over the {MAX_ADAPTER_MB:.0f} MB a package may carry",
                          "train with a smaller LoRA rank or fewer target modules")
    sources = training_sources(run_dir)
    bad = [s["name"] for s in sources if not s["bundled"]]
    if bad and not allow_unshippable:
        raise ConfigError(f"the student was trained on data that may not be shipped: {', '.join(bad)}",
                          "retrain on bundleable datasets only (weights trained on such data may not ship either)")
    state = json.loads((run_dir / "state.json").read_text()).get("stages", {})
    stages = {k: {"seconds": v.get("seconds"), "peak_rss_mb": v.get("peak_rss_mb"),
                  **{a: _relative(b, run_dir) for a, b in (v.get("outputs") or {}).items()
                     if not isinstance(b, (dict, list))}}
              for k, v in state.items() if v.get("status") == "done" and not k.startswith("eval")}
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / gguf, dest / "adapter.gguf")
    from logreasoner import __version__

    card: dict[str, Any] = {
        "name": "smollm2-135m-logreasoner",
        "base": manifest.get("base"),
        "adapter": "adapter.gguf",
        "adapter_sha256": _sha256(dest / "adapter.gguf"),
        "adapter_mb": round(size_mb, 2),
        "final_stage": manifest.get("final_stage"),
        "tasks": manifest.get("tasks"),
        "program": manifest.get("program"),
        "recipe": str(recipe) if recipe else None,
        "recipe_sha256": _sha256(Path(recipe)) if recipe and Path(recipe).is_file() else None,
        "stages": list(stages),
        "stage_figures": stages,
        "sources": sources,
        "training_rows": sum(s["rows"] for s in sources),
        "held_back": held_back or {},
        "toolkit_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (dest / "card.json").write_text(json.dumps(card, indent=1, default=str) + "\n")
    return card


def rescore_card(dest: str | Path, held_back: dict[str, Any]) -> dict[str, Any]:
    """Put new held-back scores into the card of a student already shipped in ``dest`` (no run folder needed, the
    adapter is not touched): after a change to the program the student is asked with, re-score it and replace the
    card's figures of each dataset and program scored again; the others stay, and the card says when each
    dataset's figures were last replaced (``held_back_measured``)."""
    dest = Path(dest)
    card_path = dest / "card.json"
    if not card_path.is_file():
        raise ConfigError(f"{dest} holds no card.json", "ship the student first (logreasoner finetune ship --to ...)")
    card = json.loads(card_path.read_text())
    adapter = dest / str(card.get("adapter") or "adapter.gguf")
    if not adapter.is_file() or _sha256(adapter) != card.get("adapter_sha256"):
        raise ConfigError(f"the adapter in {dest} is not the one its card describes",
                          "ship the student again from its run folder (logreasoner finetune ship --to ...)")
    if not held_back:
        raise ConfigError("no held-back scores to put on the card", "pass --scores with an eval run's results.json")
    table = dict(card.get("held_back") or {})
    measured = dict(card.get("held_back_measured") or {})
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for dataset, programs in held_back.items():
        table[dataset] = {**(table.get(dataset) or {}), **programs}
        measured[dataset] = now
    card["held_back"] = table
    card["held_back_measured"] = measured
    card_path.write_text(json.dumps(card, indent=1, default=str) + "\n")
    return card
