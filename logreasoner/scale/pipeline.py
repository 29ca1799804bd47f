"""The whole path for a large log: stream and mine (pass one), reason per template or session pattern, then
write a result for every line, session or template (pass two over the spool).

    from logreasoner.scale import scan_log
    report = scan_log("big.log", task="anomaly", model="local", out="results.jsonl")

The cost before (reasoning per line, or per session) and after (per distinct template or session pattern) is
in the report: ``naive_calls`` against ``model_calls``.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from pydantic import BaseModel, Field

from logreasoner.errors import InputError
from logreasoner.logs.reader import iter_lines, no_lines_error
from logreasoner.scale.cache import AnswerCache
from logreasoner.scale.config import ScaleSettings, get_scale_settings
from logreasoner.scale.reasoner import Answer, ReasonItem, TemplateReasoner
from logreasoner.scale.sessions import SessionSpec
from logreasoner.scale.stream import ScanResult, scan_stream

__all__ = ["ScanReport", "scan_log", "template_items", "pattern_items", "write_results", "peak_rss_mb"]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (``getrusage``)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


class ScanReport(BaseModel):
    """What a scan cost and found (also what ``logreasoner scan --json`` prints)."""

    task: str
    model: str
    program: str
    unit: Literal["template", "session"]
    sources: list[str]
    lines: int
    templates: int = Field(description="distinct templates (Drain3 clusters)")
    distinct_template_texts: int
    sessions: int = 0
    patterns: int = 0
    naive_calls: int = Field(description="program runs when reasoning per line (or per session): the cost before")
    model_calls: int = Field(description="program runs made now (distinct templates/patterns not in the cache)")
    lm_requests: int | None = Field(None, description="requests the model saw, when its engine counts them")
    cache_hits: int = 0
    failed: int = 0
    errors: int = 0
    error_samples: list[str] = Field(default_factory=list)
    skipped_sources: list[str] = Field(default_factory=list, description="unreadable files in a folder or glob, "
                                                                         "skipped: '<file>: <why>'")
    workers: int = 1
    max_in_flight: int = 0
    mining_seconds: float
    reasoning_seconds: float
    writing_seconds: float
    total_seconds: float
    lines_per_second: float
    calls_per_1000_lines: float
    peak_rss_mb: float
    counts: dict[str, int] = Field(default_factory=dict, description="lines (or sessions) per answer value")
    out: str | None = None
    cache_path: str | None = None


def _render_lines(examples: list[str]) -> str:
    return "\n".join(examples)


def template_items(scan: ScanResult) -> Iterator[tuple[int, ReasonItem]]:
    """One item per template: keyed by the final template text; the model sees its example lines."""
    for tid, info in scan.templates.items():
        yield tid, ReasonItem(info.template, _render_lines(info.examples))


def pattern_items(scan: ScanResult) -> Iterator[tuple[int, ReasonItem]]:
    """One item per session pattern: keyed by its template texts; the model sees one example line per template.

    A ``set`` pattern is keyed by its sorted template texts (cluster ids differ between files, texts do not);
    a ``sequence`` pattern by its texts in order.
    """
    mode = scan.session_spec.pattern if scan.session_spec is not None else "set"
    for key, p in scan.patterns.items():
        infos = [scan.templates[t] for t in key]
        texts = [i.template for i in infos]
        if mode == "set":
            texts = sorted(set(texts))
        ident = f"session-pattern[{mode}]\n" + "\n".join(texts)
        seen: list[str] = []
        for i in infos if mode == "sequence" else sorted(infos, key=lambda i: i.id):
            if i.examples[0] not in seen or mode == "sequence":
                seen.append(i.examples[0])
        yield p.id, ReasonItem(ident, _render_lines(seen))


def _scanned_texts(sources: list[str], max_line_chars: int) -> Iterator[str]:
    """The text of every line the scan saw, read again. A file found in a folder that broke mid-way (a corrupt
    ``.gz``) gave the scan its lines up to the damage; reading it again ends there too."""
    for source in sources:
        try:
            for line in iter_lines(source, max_line_chars=max_line_chars):
                yield line.text
        except InputError:
            continue


def _answer_fields(task: Any, a: Answer) -> dict:
    d: dict[str, Any] = {task.primary_field: a.primary}
    if a.answer is None:
        d["format_error"] = a.format_error or a.error
    return d


def write_results(scan: ScanResult, answers_by_id: dict[int, Answer], task: Any, out: Any, *,
                  per: str, only: str | None = None, with_text: bool = False,
                  infos: dict[int, Any] | None = None) -> dict[str, int]:
    """Write JSONL rows for every line, session or template; returns counts per answer value (as text)."""
    counts: dict[str, int] = {}

    def bump(a: Answer, n: int = 1) -> str:
        v = "format_failure" if a.answer is None else str(a.primary)
        counts[v] = counts.get(v, 0) + n
        return v

    if per == "template":
        for tid, info in scan.templates.items():
            a = answers_by_id[tid]
            v = bump(a, info.count)
            if only is not None and v != only:
                continue
            row = {"template_id": tid, "template": info.template, "lines": info.count, "examples": info.examples,
                   "answer": a.answer, "cached": a.cached, **_answer_fields(task, a)}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return counts
    if per == "session":
        for row in scan.iter_sessions():
            a = answers_by_id[row["pattern_id"]]
            v = bump(a)
            if only is not None and v != only:
                continue
            row["first"] = [scan.sources[row["first"][0]], row["first"][1]]
            row["last"] = [scan.sources[row["last"][0]], row["last"][1]]
            row.update(_answer_fields(task, a))
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return counts
    # per line: pre-render each template's part once; a line's row is then a string format
    parts = {tid: json.dumps(_answer_fields(task, a), ensure_ascii=False)[1:-1] for tid, a in answers_by_id.items()}
    values = {tid: ("format_failure" if a.answer is None else str(a.primary)) for tid, a in answers_by_id.items()}
    srcs = [json.dumps(s, ensure_ascii=False) for s in scan.sources]
    texts = None
    if with_text:
        if "-" in scan.sources:
            raise InputError("--text cannot re-read standard input", "write the log to a file first")
        texts = _scanned_texts(scan.sources, get_scale_settings().max_line_chars)
    write = out.write
    for tid, info in scan.templates.items():
        counts[values[tid]] = counts.get(values[tid], 0) + info.count
    for src, number, tid in (scan.spool or ()):
        text = next(texts) if texts is not None else None
        if only is not None and values[tid] != only:
            continue
        if text is None:
            write(f'{{"source":{srcs[src]},"line":{number},"template_id":{tid},{parts[tid]}}}\n')
        else:
            write(f'{{"source":{srcs[src]},"line":{number},"template_id":{tid},{parts[tid]},'
                  f'"text":{json.dumps(text, ensure_ascii=False)}}}\n')
    return counts


def scan_log(
    sources: Any,
    *,
    task: str = "anomaly",
    model: str | Any = "local",
    program: str | Any = "coarse_to_fine",
    labels: list[str] | None = None,
    question: str | None = None,
    sessions: SessionSpec | None = None,
    out: str | Path | None = None,
    per: Literal["line", "template", "session"] | None = None,
    only: str | None = None,
    with_text: bool = False,
    cache: AnswerCache | str | None = "default",
    concurrency: int | None = None,
    retry_failed: bool = False,
    settings: ScaleSettings | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
    lm_kwargs: dict | None = None,
    stream_to: Any = None,
) -> ScanReport:
    """Stream ``sources``, reason once per distinct template (or session pattern with ``sessions=``), map the
    answers back to every line (or session), and write them as JSONL to ``out``.

    ``model`` is a spec for :func:`logreasoner.lm.load_lm` or a ready ``dspy.LM``; ``program`` a kind name, a
    saved program file or a module. ``stream_to`` (a text stream) takes the rows instead of ``out``. ``per`` picks the output rows (default: ``session`` with sessions, else
    ``line``); ``only`` keeps rows whose answer is that value (e.g. ``abnormal``).
    """
    from logreasoner.tasks import get_task

    t_start = time.perf_counter()
    settings = settings or get_scale_settings()
    t = get_task(task)
    t.answer_model(labels)
    per = per or ("session" if sessions is not None else "line")
    if per == "session" and sessions is None:
        raise InputError("per-session output needs sessions", "pass --sessions id|time|count")
    if per != "session" and sessions is not None:
        raise InputError("with sessions the answers are per session pattern",
                         "drop --per (sessions are written per session), or drop --sessions for per-line answers")
    if with_text and per != "line":
        raise InputError("--text applies to per-line output", "drop --text, or use --per line")
    if isinstance(cache, str) and cache != "default":
        cache = AnswerCache(cache)
    elif cache == "default":
        cache = AnswerCache(settings.resolved_cache_path())
    say = progress or (lambda stage, n, total: None)
    scan = scan_stream(sources, sessions=sessions, settings=settings,
                       progress=lambda n: say("mining", n, None))
    try:
        if scan.lines == 0:
            raise no_lines_error(scan.stats)  # names the files, and any skipped as unreadable
        if isinstance(model, str):
            from logreasoner.lm import load_lm

            lm = load_lm(model, **(lm_kwargs or {}))
        else:
            lm = model
        reasoner = TemplateReasoner(program, lm, task=t.name, labels=labels, question=question, cache=cache,
                                    concurrency=concurrency, settings=settings, retry_failed=retry_failed)
        pairs = list(pattern_items(scan) if sessions is not None else template_items(scan))
        answers = reasoner.run((it for _, it in pairs), progress=lambda d, n: say("reasoning", d, n))
        by_id = {i: answers[it.key] for i, it in pairs}
        t_written = time.perf_counter()
        if stream_to is not None:
            counts = write_results(scan, by_id, t, stream_to, per=per, only=only, with_text=with_text)
        elif out is not None:
            p = Path(out)
            p.parent.mkdir(parents=True, exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                counts = write_results(scan, by_id, t, f, per=per, only=only, with_text=with_text)
        else:
            counts = write_results(scan, by_id, t, _Null(), per=per, only=only)  # counts only, rows dropped
        t_end = time.perf_counter()
        st = reasoner.stats
        naive = scan.sessions if sessions is not None else scan.lines
        return ScanReport(
            task=t.name, model=reasoner.model, program=reasoner.kind or type(reasoner.program).__name__,
            unit="session" if sessions is not None else "template", sources=scan.sources[:50], lines=scan.lines,
            templates=len(scan.templates), distinct_template_texts=scan.distinct_template_texts(),
            sessions=scan.sessions, patterns=len(scan.patterns), naive_calls=naive, model_calls=st.calls,
            lm_requests=st.lm_requests, cache_hits=st.cache_hits, failed=st.failed, errors=st.errors,
            error_samples=st.error_samples, skipped_sources=scan.stats.skipped_sources[:50], workers=st.workers,
            max_in_flight=st.max_in_flight,
            mining_seconds=round(scan.seconds, 3), reasoning_seconds=round(st.seconds, 3),
            writing_seconds=round(t_end - t_written, 3), total_seconds=round(t_end - t_start, 3),
            lines_per_second=round(scan.lines / max(t_end - t_start, 1e-9), 1),
            calls_per_1000_lines=round(1000 * st.calls / scan.lines, 3), peak_rss_mb=peak_rss_mb(),
            counts=counts, out=str(out) if out is not None else None,
            cache_path=str(cache.path) if cache is not None else None,
        )
    finally:
        scan.close()


class _Null:
    def write(self, s: str) -> int:
        return len(s)
