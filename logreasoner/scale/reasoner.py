"""Reason once per distinct template (or session pattern), in parallel where the model allows, through the cache.

Items with the same key (a template text, a session pattern) are reasoned about once. Keys already in the
answer cache cost nothing. The rest run through the program with at most ``concurrency`` requests in flight
for remote models; an in-process engine (which holds a lock and runs one generation at a time) is called from
one thread, in an order that lets llama.cpp reuse the shared prompt prefix from the call before.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from logreasoner.errors import LogReasonerError
from logreasoner.scale.cache import AnswerCache, cache_key
from logreasoner.scale.config import ScaleSettings, get_scale_settings
from logreasoner.scale.fingerprint import model_name, program_fingerprint

__all__ = ["ReasonItem", "Answer", "ReasonStats", "TemplateReasoner", "is_serial_lm", "lm_request_count"]


@dataclass(frozen=True)
class ReasonItem:
    """One thing to reason about: ``key`` identifies it in the cache, ``log`` is the text the model sees."""

    key: str
    log: str


@dataclass
class Answer:
    answer: dict | None
    primary: Any = None
    format_error: str | None = None
    cached: bool = False
    seconds: float = 0.0
    error: str | None = None  # the call raised (not cached; retried next run)


@dataclass
class ReasonStats:
    items: int = 0
    distinct: int = 0
    cache_hits: int = 0
    calls: int = 0  # program runs (one per distinct key not in the cache)
    failed: int = 0  # program ran, no typed answer
    errors: int = 0  # program raised
    lm_requests: int | None = None  # requests the model saw, when the engine counts them
    max_in_flight: int = 0
    workers: int = 1
    seconds: float = 0.0
    error_samples: list[str] = field(default_factory=list)


def is_serial_lm(lm: Any) -> bool:
    """True for an in-process engine that runs one generation at a time (threads would only queue on its lock):
    :func:`logreasoner.lm.engines.is_serial`."""
    from logreasoner.lm.engines import is_serial

    return is_serial(lm)


def lm_request_count(lm: Any) -> int | None:
    """Requests the model has answered so far, when its engine keeps count (in-process and counting engines)."""
    from logreasoner.lm.spec import engine_of

    eng = engine_of(lm)
    if eng is None:
        return None
    stats = getattr(eng, "stats", None)
    if stats is not None and hasattr(stats, "calls"):
        return int(stats.calls)
    calls = getattr(eng, "calls", None)
    return int(calls) if isinstance(calls, int) else None


class TemplateReasoner:
    """Run one program over many items, once per distinct key, through the answer cache.

    Args:
        program: a ``dspy.Module`` or a kind name for :func:`logreasoner.programs.resolve_program`.
        lm: the ``dspy.LM`` to run it on (``dspy.context(lm=...)`` inside every worker).
        task, labels, question: what the program is asked; part of the cache key (question is folded into it).
        cache: an :class:`AnswerCache`, ``"default"`` (the toolkit's cache dir) or None (no cache).
        concurrency: most requests in flight for a remote model (default: the ``concurrency`` setting).
        retry_failed: run again keys whose cached answer was a format failure.
    """

    def __init__(self, program: Any, lm: Any, *, task: str = "anomaly", labels: list[str] | None = None,
                 question: str | None = None, cache: AnswerCache | str | None = "default",
                 concurrency: int | None = None, settings: ScaleSettings | None = None,
                 retry_failed: bool = False, kind: str | None = None) -> None:
        from logreasoner.programs.resolve import resolve_program
        from logreasoner.tasks import get_task

        self.task = get_task(task)
        self.task.answer_model(labels)  # fail fast on a missing label set
        self.labels, self.question = labels, question
        self.kind = kind or (program if isinstance(program, str) else None)
        self.program = resolve_program(program, self.task)
        self.lm = lm
        self.settings = settings or get_scale_settings()
        self.cache = AnswerCache.default() if cache == "default" else cache
        self.concurrency = int(concurrency or self.settings.concurrency)
        if self.concurrency < 1:
            from logreasoner.errors import ConfigError

            raise ConfigError("concurrency must be at least 1", "pass --concurrency 1 or more")
        self.retry_failed = retry_failed
        self.fingerprint = program_fingerprint(self.program, self.kind)
        self.model = model_name(lm)
        self.stats = ReasonStats()
        self._lock = threading.Lock()
        self._in_flight = 0

    def key_of(self, item_key: str) -> str:
        task = self.task.name if not self.question else f"{self.task.name}|q={self.question}"
        return cache_key(self.fingerprint, self.model, task, self.labels, item_key)

    # -- one call ------------------------------------------------------------------------------------------------
    def _call(self, item: ReasonItem) -> Answer:
        import dspy

        with self._lock:
            self._in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
        t0 = time.perf_counter()
        try:
            with dspy.context(lm=self.lm):
                pred = self.program(log=item.log, question=self.question, labels=self.labels)
        except LogReasonerError:
            raise  # a missing key, an unloadable model: every call would fail the same way
        except Exception as e:  # a network error, a server error: record it, do not cache it
            return Answer(None, error=f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}",
                          seconds=time.perf_counter() - t0)
        finally:
            with self._lock:
                self._in_flight -= 1
        ans = getattr(pred, "answer", None)
        data = ans.model_dump(mode="json") if ans is not None else None
        return Answer(data, self.task.primary(data) if data is not None else None,
                      getattr(pred, "format_error", None) if ans is None else None, False,
                      time.perf_counter() - t0)

    def _record(self, item: ReasonItem, key: str, a: Answer) -> None:
        s = self.stats
        s.calls += 1
        if a.error is not None:
            s.errors += 1
            if len(s.error_samples) < 5:
                s.error_samples.append(a.error)
            return
        if a.answer is None:
            s.failed += 1
        if self.cache is not None:
            self.cache.put(key, fingerprint=self.fingerprint, model=self.model, task=self.task.name,
                           labels=self.labels, template=item.key, answer=a.answer, format_error=a.format_error,
                           seconds=round(a.seconds, 4))

    # -- many calls ----------------------------------------------------------------------------------------------
    def run(self, items: Iterable[ReasonItem], progress: Callable[[int, int], None] | None = None) -> dict[str, Answer]:
        """Answers by item key. Each distinct key is looked up in the cache, and reasoned about once if missing."""
        t0 = time.perf_counter()
        before = lm_request_count(self.lm)
        unique: dict[str, ReasonItem] = {}
        n = 0
        for it in items:
            n += 1
            unique.setdefault(it.key, it)
        s = self.stats
        s.items += n
        s.distinct += len(unique)
        keys = {k: self.key_of(k) for k in unique}
        out: dict[str, Answer] = {}
        if self.cache is not None:
            hits = self.cache.get_many(keys.values())
            for k, ck in keys.items():
                h = hits.get(ck)
                if h is None or (h.answer is None and self.retry_failed):
                    continue
                out[k] = Answer(h.answer, self.task.primary(h.answer) if h.answer is not None else None,
                                h.format_error, True, h.seconds or 0.0)
            s.cache_hits += len(out)
        todo = [unique[k] for k in unique if k not in out]
        serial = is_serial_lm(self.lm)
        workers = 1 if serial else min(self.concurrency, max(1, len(todo)))
        s.workers = max(s.workers, workers)
        done = 0
        if serial or workers == 1:
            if serial:
                todo.sort(key=lambda it: it.log)  # neighbours share more prompt prefix (llama.cpp reuses it)
            for it in todo:
                a = self._call(it)
                self._record(it, keys[it.key], a)
                out[it.key] = a
                done += 1
                if progress is not None:
                    progress(done, len(todo))
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="logreasoner-reason") as pool:
                pending: dict[Any, ReasonItem] = {}
                queue = iter(todo)
                exhausted = False
                while pending or not exhausted:
                    while not exhausted and len(pending) < workers * 2:  # bounded submission: memory stays flat
                        it = next(queue, None)
                        if it is None:
                            exhausted = True
                            break
                        pending[pool.submit(self._call, it)] = it
                    if not pending:
                        break
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        it = pending.pop(fut)
                        try:
                            a = fut.result()
                        except BaseException:
                            for f in pending:
                                f.cancel()
                            raise
                        self._record(it, keys[it.key], a)
                        out[it.key] = a
                        done += 1
                        if progress is not None:
                            progress(done, len(todo))
        after = lm_request_count(self.lm)
        if before is not None and after is not None:
            s.lm_requests = (s.lm_requests or 0) + (after - before)
        s.seconds += time.perf_counter() - t0
        return out
