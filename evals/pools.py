"""Who answers: a cell's model (one, or one copy per worker), the workers, and one example -> its record.

Remote models answer on up to ``threads`` worker threads sharing one ``dspy.LM``; an in-process model answers
one example at a time, or — with ``local_workers`` > 1 — on that many copies, each taken by a worker for one
example and given back, the machine's threads split between them. Every example runs on its own ``lm.copy()``
(history isolated, for its usage), and each finished record is appended to the checkpoint by the worker itself,
so in-flight work is saved even on Ctrl-C. An example that raises becomes a record with an error; a model that
cannot be reached stops the run.
"""

from __future__ import annotations

import queue
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from typing import Any, Callable

from logreasoner.evals.checkpoint import SampleLog, to_jsonable
from logreasoner.evals.planning import Cell
from logreasoner.evals.progress import LiveScore, progress_bar
from logreasoner.evals.records import answer_value, new_record
from logreasoner.evals.usage import EMPTY_USAGE, usage_from_history

__all__ = ["load_models", "split_threads", "run_example", "model_unavailable", "execute"]


def load_models(lm_factory: Callable[[str], Any], spec: str, *, copies: int, cache: bool) -> Any:
    """The model ``spec`` for a cell: one ``dspy.LM``, or a list of ``copies`` (> 1) independent copies, each
    given its share of the machine's threads; with ``cache`` off each skips DSPy's cache."""
    made = []
    for _ in range(copies):
        one = lm_factory(spec)
        if copies > 1:
            split_threads(one, copies)
        made.append(one.copy(cache=False) if not cache else one)
    return made if copies > 1 else made[0]


def split_threads(lm: Any, workers: int) -> None:
    """Give an in-process engine its share of the machine's threads (before it loads)."""
    from logreasoner.lm import engine_of
    from logreasoner.settings import get_settings

    engine = engine_of(lm)
    if engine is not None and hasattr(engine, "n_threads"):
        engine.n_threads = max(1, get_settings().threads // workers)


def run_example(cell: Cell, program: Any, lm: Any, ex: Any) -> dict[str, Any]:
    """Run ``program`` on one example (under its own copy of ``lm``, if any) and return its scored record."""
    import dspy

    rec = new_record(program=cell.program.label, model=cell.model, dataset=cell.dataset.name, task=cell.task.name,
                     example=ex, group_field=cell.dataset.group_field)
    local_lm = lm.copy() if lm is not None else None
    t0 = time.perf_counter()
    try:
        kwargs: dict[str, Any] = {"log": ex["log"], "question": ex["question"], "labels": ex["labels"]}
        if getattr(program, "accepts_meta", False):
            kwargs["meta"] = rec["meta"]
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
        if model_unavailable(e):
            raise
        rec["error"] = f"{type(e).__name__}: {e}"
        rec["traceback"] = traceback.format_exc()[-4000:]
    rec["latency_s"] = round(time.perf_counter() - t0, 4)
    rec["usage"] = usage_from_history(getattr(local_lm, "history", None) or []) if local_lm is not None else dict(EMPTY_USAGE)
    rec["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return rec


def model_unavailable(e: BaseException) -> bool:
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


def execute(cell: Cell, program: Any, lm: Any, todo: list, log: SampleLog, threads: int, live: LiveScore,
            progress: bool) -> None:
    """Answer the ``todo`` examples of ``cell``, appending each record to ``log`` as it finishes.

    ``lm``: None (a program without a model), one ``dspy.LM`` shared by ``threads`` workers, or a list of
    in-process copies (one worker per copy).
    """
    bar = progress_bar(f"{cell.program.label}@{cell.model_label} {cell.dataset.name}", len(todo), enabled=progress)

    pool_lms: queue.Queue | None = None
    if isinstance(lm, list):  # one in-process model copy per worker: a worker takes one, answers, gives it back
        pool_lms = queue.Queue()
        for one in lm:
            pool_lms.put(one)
        threads = len(lm)

    def work(ex: Any) -> dict[str, Any]:
        if pool_lms is None:
            rec = run_example(cell, program, lm, ex)
        else:
            mine = pool_lms.get()
            try:
                rec = run_example(cell, program, mine, ex)
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
