"""The eval runner: programs x models x datasets, checkpointed per example, resumable, with a live score.

``run_eval(RunConfig(...), out="runs/x")`` plans one *cell* per (program, model, dataset), skips examples whose
record is already in ``samples.jsonl``, runs the rest (threads for remote models, one at a time for in-process
ones, DSPy's cache on), appends each finished example to ``samples.jsonl`` with an fsync, and writes
``results.json``, ``report.md`` and PNG plots. An example that raises is recorded as an error and the run goes
on; an interrupted run (Ctrl-C, a kill) resumes with ``resume=True`` and never re-pays for finished examples.
Programs run under ``dspy.context(lm=...)``; the runner never calls ``dspy.configure``.

This module only orchestrates; each part lives in its own module:

- :mod:`~logreasoner.evals.config`: what to run (:class:`RunConfig`, :class:`UserData`), saved as ``config.json``;
- :mod:`~logreasoner.evals.planning`: the cells, before anything is written;
- :mod:`~logreasoner.evals.records`: one example's record in ``samples.jsonl`` and its key;
- :mod:`~logreasoner.evals.checkpoint`: ``samples.jsonl`` itself (appended, fsynced, repaired on reopen);
- :mod:`~logreasoner.evals.pools`: the models, the workers, one example -> its record;
- :mod:`~logreasoner.evals.progress`: the progress bar and its live score;
- :mod:`~logreasoner.evals.results`: ``results.json``, ``report.md`` and the plots.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from logreasoner.errors import ConfigError, InputError
from logreasoner.evals import resolve as _resolve
from logreasoner.evals.checkpoint import SampleLog
from logreasoner.evals.config import DEFAULT_PROGRAMS, RunConfig, UserData
from logreasoner.evals.datasets import load_records, to_examples
from logreasoner.evals.planning import Cell, plan_cells
from logreasoner.evals.pools import execute, load_models
from logreasoner.evals.progress import LiveScore
from logreasoner.evals.records import answer_value, sample_key
from logreasoner.evals.resolve import is_local_model
from logreasoner.evals.results import build_results, versions, write_outputs

__all__ = ["RunConfig", "UserData", "run_eval", "DEFAULT_PROGRAMS", "sample_key", "versions", "answer_value"]


def run_eval(config: RunConfig | None, out: str | Path, *, resume: bool = False, progress: bool = True,
             programs: dict[str, Callable[[str], Any]] | None = None,
             lm_factory: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Run (or resume) an eval into the folder ``out``; returns the results dict also written to results.json.

    Args:
        config: what to run; with ``resume=True`` and None, the folder's saved ``config.json`` is used.
        out: the run folder (created).
        resume: continue a run: examples already in ``samples.jsonl`` are skipped.
        progress: show a progress bar per cell.
        programs: extra program factories by name (``factory(task_name) -> program``; attributes
            ``needs_lm`` (default True) and ``tasks`` (default all) are honoured).
        lm_factory: model spec -> ``dspy.LM`` (default ``logreasoner.lm.load_lm``).
    """
    out = Path(out).expanduser()
    config, previous = _config_and_previous(config, out, resume)
    from logreasoner.settings import get_settings

    cells, skipped, notes = plan_cells(config, programs, get_settings().model)  # bad names fail before any write
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(config.model_dump_json(indent=2), encoding="utf-8")
    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    lm_factory = lm_factory or _resolve.load_model
    lms: dict[str, Any] = {}
    built: dict[tuple[str, str], Any] = {}
    log = SampleLog(out / "samples.jsonl").open()
    complete = False
    try:
        latest = log.latest()
        for cell in cells:
            done_recs, todo = _pending(cell, latest, config.retry_errors)
            if not todo:
                continue
            t_cell = time.perf_counter()
            lm = None
            local = is_local_model(cell.model)
            if cell.program.needs_lm:
                if cell.model not in lms:
                    lms[cell.model] = load_models(lm_factory, cell.model, copies=config.local_workers if local else 1,
                                                  cache=config.cache)
                lm = lms[cell.model]
            program = _program(cell, built)
            threads = 1 if (not cell.program.needs_lm or local) else config.threads
            execute(cell, program, lm, todo, log, threads, LiveScore(cell.task.name, done_recs), progress)
            cell.wall_s += time.perf_counter() - t_cell
        complete = True
    except KeyboardInterrupt:
        notes.append("interrupted: resume with `logreasoner eval run --resume --out " + str(out) + "`")
        raise
    finally:
        log.close()
        results = build_results(config, cells, log, skipped, notes, started, time.perf_counter() - t_start,
                                complete, out, previous)
        write_outputs(out, results, config.plots)
    return results


def _config_and_previous(config: RunConfig | None, out: Path, resume: bool
                         ) -> tuple[RunConfig, dict[str, Any] | None]:
    """The config to run (on resume without one: the folder's ``config.json``) and, on resume, the previous
    ``results.json`` (its invocations carry on). A new run refuses a folder that already holds samples."""
    cfg_path, samples_path = out / "config.json", out / "samples.jsonl"
    previous = None
    if resume:
        if config is None:
            if not cfg_path.is_file():
                raise InputError(f"{out} holds no config.json to resume", "pass the run options again, or another --out")
            config = RunConfig.model_validate_json(cfg_path.read_text(encoding="utf-8"))
        if (out / "results.json").is_file():
            try:
                previous = json.loads((out / "results.json").read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                previous = None
    else:
        if config is None:
            raise ConfigError("no run configuration", "pass a RunConfig (or resume=True on an existing run folder)")
        if samples_path.is_file() and samples_path.stat().st_size > 0:
            raise InputError(f"run folder {out} already holds samples", "pass --resume to continue it, or another --out")
    return config, previous


def _pending(cell: Cell, latest: dict[str, dict[str, Any]], retry_errors: bool) -> tuple[list, list]:
    """The cell's finished records (kept) and the examples still to run (new, or errors to retry)."""
    done_recs, todo = [], []
    for ex in cell.examples:
        rec = latest.get(cell.key(ex.meta["id"]))
        if rec is not None and not (rec.get("error") and retry_errors):
            done_recs.append(rec)
        else:
            todo.append(ex)
    return done_recs, todo


def _program(cell: Cell, built: dict[tuple[str, str], Any]) -> Any:
    """The cell's program, built once per (program, dataset); an unsupervised baseline (Drain) first sees every
    unlabelled line of the dataset, as in the Loghub benchmark."""
    bkey = (cell.program.label, cell.dataset.name)
    if bkey not in built:
        program = cell.program.build(cell.task.name)
        if hasattr(program, "prepare"):
            allx = to_examples(load_records(cell.dataset), dataset=cell.dataset.name, task=cell.task.name)
            gf = cell.dataset.group_field
            program.prepare([e.log for e in allx], [e.meta.get(gf) if gf else None for e in allx])
        built[bkey] = program
    return built[bkey]
