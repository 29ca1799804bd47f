"""The eval runner: programs x models x datasets, checkpointed per example, resumable, with a live score.

``run_eval(RunConfig(...), out="runs/x")`` plans one *cell* per (program, model, dataset), skips examples whose
record is already in ``samples.jsonl``, runs the rest (threads for remote models, one at a time for in-process
ones, DSPy's cache on), appends each finished example to ``samples.jsonl`` with an fsync, and writes
``results.json``, ``report.md`` and PNG plots. An example that raises is recorded as an error and the run goes
on; an interrupted run (Ctrl-C, a kill) resumes with ``resume=True`` and never re-pays for finished examples.
Programs run under ``dspy.context(lm=...)``; the runner never calls ``dspy.configure``.
"""

from __future__ import annotations

import json
import platform
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from logreasoner.errors import ConfigError, InputError
from logreasoner.evals import scoring
from logreasoner.evals.checkpoint import SampleLog, to_jsonable
from logreasoner.evals.datasets import DatasetSpec, get_dataset, load_records, to_examples
from logreasoner.evals.paths import shared_data_dir
from logreasoner.evals import resolve as _resolve
from logreasoner.evals.resolve import ProgramSpec, is_local_model, parse_program
from logreasoner.evals.splits import check_split
from logreasoner.evals.suites import get_suite
from logreasoner.evals.usage import EMPTY_USAGE, add_usage, usage_from_history
from logreasoner.tasks import Task, get_task

__all__ = ["RunConfig", "UserData", "run_eval", "DEFAULT_PROGRAMS", "sample_key", "versions", "answer_value"]

DEFAULT_PROGRAMS = ["direct", "cot", "coarse_to_fine", "drain3", "keyword", "level", "majority", "echo"]


class UserData(BaseModel):
    """A user's JSONL/CSV file and its column mapping."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    task: str
    input_field: str = "log"
    label_field: str = "answer"
    question_field: str | None = None
    labels: list[str] | None = None
    id_field: str | None = None
    labels_field: str | None = Field(None, description="column holding each row's own label set (list or 'a|b|c')")


class RunConfig(BaseModel):
    """What to run. Validated on creation; saved as ``config.json`` in the run folder."""

    model_config = ConfigDict(extra="forbid")

    suite: str | None = None
    datasets: list[str] = Field(default_factory=list)
    user_data: UserData | None = None
    programs: list[str] = Field(default_factory=list, description="program names; empty: the suite's programs, "
                                "else DEFAULT_PROGRAMS (filled in on creation, so config.json names them)")
    models: list[str] = Field(default_factory=list, description="model specs; empty: the settings' default model")
    split: str | None = Field(None, description="train/dev/test/all; None: the suite's, 'test', or 'all' for user data")
    limit: int | None = Field(None, ge=0)
    seed: int = 0
    threads: int = Field(8, ge=1, le=256, description="worker threads for remote models")
    local_workers: int = Field(1, ge=1, le=16, description="in-process models: this many model copies answer in "
                                                           "parallel, the machine's threads split between them")
    bootstrap: int = Field(1000, ge=0, le=100_000, description="bootstrap resamples for the intervals")
    cache: bool = True
    retry_errors: bool = Field(True, description="on resume, run again the examples that raised")
    plots: bool = Field(True, description="write PNG plots (needs matplotlib)")

    @field_validator("split")
    @classmethod
    def _split(cls, v: str | None) -> str | None:
        return None if v is None else check_split(v)

    @field_validator("suite")
    @classmethod
    def _suite(cls, v: str | None) -> str | None:
        if v is not None:
            get_suite(v)
        return v

    @field_validator("programs")
    @classmethod
    def _programs(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _default_programs(self) -> "RunConfig":
        if not self.programs:
            suite = get_suite(self.suite) if self.suite else None
            self.programs = list(suite.programs if suite and suite.programs else DEFAULT_PROGRAMS)
        return self


@dataclass
class _Cell:
    program: ProgramSpec
    model: str | None
    dataset: DatasetSpec
    task: Task
    examples: list
    split: str
    results_key: str = ""
    wall_s: float = 0.0
    ran: int = 0

    @property
    def model_label(self) -> str:
        return self.model or "-"


def sample_key(program: str, model: str | None, dataset: str, example_id: str) -> str:
    return f"{program}|{model or '-'}|{dataset}|{example_id}"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("logreasoner", "dspy", "drain3", "rouge-score", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def answer_value(task: Task, answer: Any, field_name: str | None = None) -> Any:
    """The value scored against the gold: ``field_name`` of the answer (else the task's primary field).

    A list field is joined with newlines; an empty view falls back to the primary field.
    """
    if answer is None:
        return None
    if isinstance(answer, str):
        return answer
    value = None
    if field_name:
        value = answer.get(field_name) if isinstance(answer, dict) else getattr(answer, field_name, None)
        if isinstance(value, (list, tuple)):
            value = "\n".join(str(v) for v in value if str(v).strip())
    if value in (None, ""):
        value = task.primary(answer)
    return value


# --------------------------------------------------------------------------- planning

def _plan_datasets(config: RunConfig) -> tuple[list[tuple[DatasetSpec, str, int | None]], list[str]]:
    notes: list[str] = []
    plan: list[tuple[DatasetSpec, str, int | None]] = []
    if config.user_data is not None:
        from logreasoner.evals.userdata import user_dataset_spec

        u = config.user_data
        spec = user_dataset_spec(u.path, u.task, u.input_field, u.label_field, u.question_field, u.labels, u.id_field,
                                 u.labels_field)
        plan.append((spec, config.split or "all", config.limit))
    if config.suite:
        suite = get_suite(config.suite)
        have_shared = shared_data_dir(required=False) is not None
        for name in suite.datasets:
            spec = get_dataset(name)
            if not spec.bundled and not have_shared:
                notes.append(f"suite {suite.name}: skipped {name} (needs the shared data folder, not found)")
                continue
            plan.append((spec, config.split or suite.split,
                         config.limit if config.limit is not None else suite.limit))
    for name in config.datasets:
        plan.append((get_dataset(name), config.split or "test", config.limit))
    if not plan:
        raise InputError("nothing to run", "pass --suite quick, --dataset NAME or --data FILE --task TASK")
    seen: set[str] = set()
    unique = []
    for item in plan:
        if item[0].name not in seen:
            seen.add(item[0].name)
            unique.append(item)
    return unique, notes


def _plan_cells(config: RunConfig, custom: dict[str, Any] | None, default_model: str
                ) -> tuple[list[_Cell], list[dict[str, str]], list[str]]:
    datasets, notes = _plan_datasets(config)
    programs = [parse_program(p, custom) for p in config.programs]
    models = list(dict.fromkeys(config.models or [default_model]))
    cells: list[_Cell] = []
    skipped: list[dict[str, str]] = []
    examples_cache: dict[str, list] = {}
    for spec, split, limit in datasets:
        task = get_task(spec.task)
        if spec.name not in examples_cache:
            examples_cache[spec.name] = to_examples(load_records(spec), dataset=spec.name, task=task.name,
                                                    split=split, seed=config.seed, limit=limit)
        exs = examples_cache[spec.name]
        if not exs:
            notes.append(f"{spec.name}: the {split} split is empty")
        for prog in programs:
            if not prog.supports(task.name):
                skipped.append({"program": prog.label, "dataset": spec.name,
                                "reason": f"{prog.label} does not answer task {task.name}"})
                continue
            for model in (models if prog.needs_lm else [None]):
                cells.append(_Cell(prog, model, spec, task, exs, split))
    return cells, skipped, notes


# --------------------------------------------------------------------------- running one example

def _run_example(cell: _Cell, program: Any, lm: Any, ex: Any) -> dict[str, Any]:
    import dspy

    meta = dict(ex.meta)
    rec: dict[str, Any] = {
        "key": sample_key(cell.program.label, cell.model, cell.dataset.name, meta["id"]),
        "program": cell.program.label,
        "model": cell.model_label,
        "dataset": cell.dataset.name,
        "task": cell.task.name,
        "id": meta["id"],
        "split": meta.get("split"),
        "meta": meta,
        "input": {"log": ex["log"], "question": ex["question"], "labels": ex["labels"]},
        "gold": ex["answer"],
        "group": meta.get(cell.dataset.group_field) if cell.dataset.group_field else None,
        "pred": None,
        "answer": None,
        "format_error": None,
        "raw": None,
        "trace": {},
        "score": 0.0,
        "error": None,
        "degenerate": [],
    }
    local_lm = lm.copy() if lm is not None else None
    t0 = time.perf_counter()
    try:
        kwargs: dict[str, Any] = {"log": ex["log"], "question": ex["question"], "labels": ex["labels"]}
        if getattr(program, "accepts_meta", False):
            kwargs["meta"] = meta
        if local_lm is not None:
            with dspy.context(lm=local_lm):
                pred = program(**kwargs)
        else:
            pred = program(**kwargs)
        get = pred.get if hasattr(pred, "get") else (lambda k, d=None: getattr(pred, k, d))
        answer = get("answer", None)
        rec["answer"] = to_jsonable(answer)
        rec["format_error"] = get("format_error", None)
        rec["raw"] = get("raw", None)
        rec["degenerate"] = list(get("degenerate", None) or [])
        keys = list(pred.keys()) if hasattr(pred, "keys") else []
        rec["trace"] = {k: to_jsonable(get(k)) for k in keys if k not in ("answer", "format_error", "raw")}
        value = answer_value(cell.task, answer, cell.dataset.answer_field)
        rec["pred"] = None if value is None else str(value)
        if rec["pred"] is not None:
            rec["score"] = float(cell.task.metric(ex["answer"], rec["pred"]))
        elif not rec["format_error"]:
            rec["format_error"] = "the program returned no answer"
    except Exception as e:  # one failing example must not stop the run; a model that is gone stops it
        if _unavailable(e):
            raise
        rec["error"] = f"{type(e).__name__}: {e}"
        rec["traceback"] = traceback.format_exc()[-4000:]
    rec["latency_s"] = round(time.perf_counter() - t0, 4)
    rec["usage"] = usage_from_history(getattr(local_lm, "history", None) or []) if local_lm is not None else dict(EMPTY_USAGE)
    rec["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return rec


def _unavailable(e: BaseException) -> bool:
    """A model that cannot be reached (wrapped by DSPy or not): every further example would fail the same way,
    so the run stops (finished examples are kept; the CLI exits 3)."""
    from logreasoner.errors import ModelUnavailableError

    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, ModelUnavailableError):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


class _Live:
    """The cell's running primary metric, recomputed at most once a second, for the progress bar."""

    def __init__(self, task: str, done: list[dict[str, Any]]) -> None:
        self.task = task
        self.samples = list(done)
        self.primary = scoring.primary_metric(task)
        self._last = 0.0
        self._value: float | None = None

    def add(self, rec: dict[str, Any]) -> None:
        self.samples.append(rec)

    def postfix(self) -> dict[str, Any]:
        import numpy as np

        now = time.monotonic()
        if self.samples and (now - self._last > 1.0 or self._value is None):
            self._value = scoring.metric_stats(self.task, self.samples)[self.primary](np.ones(len(self.samples)))
            self._last = now
        ff = sum(1 for s in self.samples if s.get("pred") is None)
        return {self.primary: f"{self._value:.3f}" if self._value is not None else "-", "fail": ff}


def _split_threads(lm: Any, workers: int) -> None:
    """Give an in-process engine its share of the machine's threads (before it loads)."""
    try:
        from logreasoner.lm import engine_of
        from logreasoner.settings import get_settings
    except ImportError:
        return
    engine = engine_of(lm)
    if engine is not None and hasattr(engine, "n_threads"):
        engine.n_threads = max(1, get_settings().threads // workers)


def _execute(cell: _Cell, program: Any, lm: Any, todo: list, log: SampleLog, threads: int, live: _Live,
             progress: bool) -> None:
    from tqdm.auto import tqdm

    desc = f"{cell.program.label}@{cell.model_label} {cell.dataset.name}"
    bar = tqdm(total=len(todo), desc=desc, disable=not progress, leave=True, dynamic_ncols=True)

    import queue

    pool_lms: queue.Queue | None = None
    if isinstance(lm, list):  # one in-process model copy per worker: a worker takes one, answers, gives it back
        pool_lms = queue.Queue()
        for one in lm:
            pool_lms.put(one)
        threads = len(lm)

    def work(ex: Any) -> dict[str, Any]:
        if pool_lms is None:
            rec = _run_example(cell, program, lm, ex)
        else:
            mine = pool_lms.get()
            try:
                rec = _run_example(cell, program, mine, ex)
            finally:
                pool_lms.put(mine)
        log.append(rec)  # checkpoint from the worker itself: in-flight work is saved even on Ctrl-C
        return rec

    def done(rec: dict[str, Any]) -> None:
        live.add(rec)
        cell.ran += 1
        bar.update(1)
        bar.set_postfix(live.postfix(), refresh=False)

    try:
        if threads <= 1 or len(todo) <= 1:
            for ex in todo:
                done(work(ex))
        else:
            pool = ThreadPoolExecutor(max_workers=min(threads, len(todo)), thread_name_prefix="eval")
            try:
                futures = [pool.submit(work, ex) for ex in todo]
                for f in as_completed(futures):
                    done(f.result())
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
    finally:
        bar.close()


# --------------------------------------------------------------------------- results

def _cell_result(cell: _Cell, latest: dict[str, dict[str, Any]], n_resamples: int, seed: int) -> dict[str, Any]:
    keys = [sample_key(cell.program.label, cell.model, cell.dataset.name, ex.meta["id"]) for ex in cell.examples]
    recs = [latest[k] for k in keys if k in latest]
    summary = scoring.summarize(cell.task.name, recs, n_resamples=n_resamples, seed=seed)
    usage = dict(EMPTY_USAGE)
    for r in recs:
        usage = add_usage(usage, r.get("usage"))
    lat = [float(r.get("latency_s") or 0.0) for r in recs]
    cached = sum(1 for r in recs if (r.get("usage") or {}).get("cache_hits"))
    return {
        "program": cell.program.label,
        "model": cell.model_label,
        "dataset": cell.dataset.name,
        "task": cell.task.name,
        "split": cell.split,
        "planned": len(cell.examples),
        "done": len(recs),
        "complete": len(recs) == len(cell.examples),
        **summary,
        "usage": usage,
        "tokens_per_example": usage["total_tokens"] / len(recs) if recs else 0.0,
        "latency_s_mean": sum(lat) / len(lat) if lat else 0.0,
        "time_s": round(sum(lat), 3),
        "wall_s_this_invocation": round(cell.wall_s, 3),
        "cached_examples": cached,
        "notes": list(cell.dataset.notes),
    }


def _write_outputs(out: Path, results: dict[str, Any], plots_on: bool) -> None:
    from logreasoner.evals.plots import write_plots
    from logreasoner.evals.report import render_report

    plots = write_plots(results, out) if plots_on else {"files": [], "note": None}
    results["plots"] = plots.get("files", [])
    if plots.get("note"):
        results["notes"].append(plots["note"])
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(to_jsonable(results), indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out / "results.json")
    (out / "report.md").write_text(render_report(results), encoding="utf-8")


def _results(config: RunConfig, cells: list[_Cell], log: SampleLog, skipped: list, notes: list[str],
             started: datetime, wall: float, complete: bool, out: Path, previous: dict[str, Any] | None
             ) -> dict[str, Any]:
    latest = log.latest()
    invocations = list((previous or {}).get("run", {}).get("invocations", []))
    invocations.append({"started": started.isoformat(timespec="seconds"), "wall_s": round(wall, 3),
                        "examples_run": sum(c.ran for c in cells), "complete": complete})
    cell_results = [_cell_result(c, latest, config.bootstrap, config.seed) for c in cells]
    notes = list(notes) + _cache_notes(cell_results, config.cache)
    return {
        "run": {
            "id": out.name,
            "out": str(out),
            "complete": complete,
            "started": invocations[0]["started"],
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(sum(i["wall_s"] for i in invocations), 3),
            "invocations": invocations,
            "dspy_cache": _dspy_cache_dir() if config.cache else None,
        },
        "config": json.loads(config.model_dump_json()),
        "seed": config.seed,
        "versions": versions(),
        "cells": cell_results,
        "skipped": skipped,
        "totals": {
            "examples": sum(c["done"] for c in cell_results),
            "errors": sum(c["errors"] for c in cell_results),
            "format_failures": sum(c["format_failures"] for c in cell_results),
            "degenerate": sum(c.get("degenerate", 0) for c in cell_results),
            "usage": _sum_usage(cell_results),
        },
        "notes": list(dict.fromkeys(notes)),
    }


def _dspy_cache_dir() -> str | None:
    """Where DSPy's answer cache lives (recorded in results.json: the answers a run may have reused)."""
    import dspy

    cache = getattr(dspy, "cache", None)
    return getattr(cache, "disk_cache_dir", None) if getattr(cache, "enable_disk_cache", False) else None


def _cache_notes(cells: list[dict[str, Any]], cache_on: bool) -> list[str]:
    """One note per cell whose examples were answered (in part) from DSPy's cache: their scores are the model's,
    but their latency, tokens and cost were not measured by this run."""
    if not cache_on:
        return []
    return [f"{_cell_label(c)} on {c['dataset']}: {c['cached_examples']} of {c['done']} examples answered (in part) "
            "from DSPy's cache (an earlier call with the same model name — for in-process models the same weights — "
            "and prompt, in this run or another); their latency, tokens and cost are not measured here (pass "
            "--no-cache to measure them)"
            for c in cells if c.get("cached_examples")]


def _cell_label(c: dict[str, Any]) -> str:
    return c["program"] if c["model"] == "-" else f"{c['program']} @ {c['model']}"


def _sum_usage(cells: list[dict[str, Any]]) -> dict[str, Any]:
    total = dict(EMPTY_USAGE)
    for c in cells:
        total = add_usage(total, c["usage"])
    return total


# --------------------------------------------------------------------------- entry point

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
    from logreasoner.settings import get_settings

    cells, skipped, notes = _plan_cells(config, programs, get_settings().model)  # bad names fail before any write
    out.mkdir(parents=True, exist_ok=True)
    cfg_path.write_text(config.model_dump_json(indent=2), encoding="utf-8")
    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    lm_factory = lm_factory or _resolve.load_model
    lms: dict[str, Any] = {}
    built: dict[tuple[str, str], Any] = {}
    log = SampleLog(samples_path).open()
    complete = False
    try:
        latest = log.latest()
        for cell in cells:
            done_recs = []
            todo = []
            for ex in cell.examples:
                rec = latest.get(sample_key(cell.program.label, cell.model, cell.dataset.name, ex.meta["id"]))
                if rec is not None and not (rec.get("error") and config.retry_errors):
                    done_recs.append(rec)
                else:
                    todo.append(ex)
            if not todo:
                continue
            t_cell = time.perf_counter()
            lm = None
            local = is_local_model(cell.model)
            if cell.program.needs_lm:
                if cell.model not in lms:
                    copies = config.local_workers if local else 1
                    made = []
                    for _ in range(copies):
                        one = lm_factory(cell.model)
                        if copies > 1:
                            _split_threads(one, copies)
                        made.append(one.copy(cache=False) if not config.cache else one)
                    lms[cell.model] = made if copies > 1 else made[0]
                lm = lms[cell.model]
            bkey = (cell.program.label, cell.dataset.name)
            if bkey not in built:
                program = cell.program.build(cell.task.name)
                if hasattr(program, "prepare"):
                    # unsupervised baselines (Drain) see every unlabelled line first, as in the Loghub benchmark
                    allx = to_examples(load_records(cell.dataset), dataset=cell.dataset.name, task=cell.task.name)
                    gf = cell.dataset.group_field
                    program.prepare([e.log for e in allx], [e.meta.get(gf) if gf else None for e in allx])
                built[bkey] = program
            program = built[bkey]
            threads = 1 if (not cell.program.needs_lm or local) else config.threads
            _execute(cell, program, lm, todo, log, threads, _Live(cell.task.name, done_recs), progress)
            cell.wall_s += time.perf_counter() - t_cell
        complete = True
    except KeyboardInterrupt:
        notes.append("interrupted: resume with `logreasoner eval run --resume --out " + str(out) + "`")
        raise
    finally:
        log.close()
        results = _results(config, cells, log, skipped, notes, started, time.perf_counter() - t_start,
                           complete, out, previous)
        _write_outputs(out, results, config.plots)
    return results
