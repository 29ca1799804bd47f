"""Pass one over a large log: stream the lines, mine templates with Drain3, cut sessions, spool line -> template.

Memory grows with the number of distinct templates and open sessions, never with the number of lines: each
line is read, masked, matched to a Drain3 cluster, recorded in the on-disk spool (12 bytes) and dropped.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from logreasoner.logs.reader import LogLine, ReadStats, iter_lines
from logreasoner.logs.templates import make_adder, make_template_miner
from logreasoner.scale.config import ScaleSettings, get_scale_settings
from logreasoner.scale.sessions import Session, SessionSpec, Sessionizer
from logreasoner.scale.spool import LineSpool

__all__ = ["TemplateInfo", "PatternInfo", "ScanResult", "StreamScanner", "scan_stream"]


@dataclass(slots=True)
class TemplateInfo:
    """One distinct template: its final text, how many lines it has, and the first example lines."""

    id: int
    template: str
    count: int
    examples: list[str]
    first_source: int
    first_line: int


@dataclass(slots=True)
class PatternInfo:
    """One distinct session pattern (a set or sequence of template ids) and how many sessions share it."""

    id: int
    template_ids: tuple[int, ...]
    sessions: int = 0
    lines: int = 0
    first_session: str = ""


@dataclass
class ScanResult:
    """What pass one found. Close it (or use it as a context manager) to delete its spool files."""

    sources: list[str]
    templates: dict[int, TemplateInfo]
    lines: int
    seconds: float
    stats: ReadStats
    patterns: dict[tuple[int, ...], PatternInfo] = field(default_factory=dict)
    sessions: int = 0
    lines_without_session: int = 0
    session_spec: SessionSpec | None = None
    spool: LineSpool | None = None
    session_spool: str | None = None

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0

    def distinct_template_texts(self) -> int:
        return len({t.template for t in self.templates.values()})

    def iter_lines(self) -> Iterator[tuple[str, int, int]]:
        """``(source, line_number, template_id)`` for every line, in stream order (needs the spool)."""
        if self.spool is None:
            raise RuntimeError("this scan kept no per-line spool (StreamScanner(spool=False))")
        for src, number, tid in self.spool:
            yield self.sources[src], number, tid

    def iter_sessions(self) -> Iterator[dict]:
        """Closed sessions in closing order: key, position, line count, pattern id, template sequence."""
        if self.session_spool is None:
            return
        with open(self.session_spool, encoding="utf-8") as f:
            for row in f:
                yield json.loads(row)

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
        if self.session_spool is not None:
            try:
                os.unlink(self.session_spool)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "ScanResult":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class StreamScanner:
    """Feed lines (``feed``) or whole sources (``scan``); ``finish`` returns the :class:`ScanResult`.

    Args:
        sessions: how to cut sessions (None: templates only).
        spool: keep the per-line record on disk (needed to map answers back to every line).
        examples: example lines kept per template (what the model sees); default from the settings.
    """

    def __init__(self, *, sessions: SessionSpec | None = None, settings: ScaleSettings | None = None,
                 spool: bool = True, examples: int | None = None, sim_th: float = 0.4, depth: int = 4) -> None:
        self.settings = settings or get_scale_settings()
        self.miner = make_template_miner(sim_th=sim_th, depth=depth)
        self._add = make_adder(self.miner.drain)  # Drain's add, with repeated one-token lines fixed
        self.examples = examples or self.settings.examples_per_template
        self.templates: dict[int, TemplateInfo] = {}
        self.sources: list[str] = []
        self._source_index: dict[str, int] = {}
        self.lines = 0
        self.spool = LineSpool(self.settings.spool_dir) if spool else None
        self.spec = sessions
        self.patterns: dict[tuple[int, ...], PatternInfo] = {}
        self._session_file = None
        self.sessionizer = None
        if sessions is not None:
            folder = self.settings.spool_dir
            if folder is not None:
                Path(folder).mkdir(parents=True, exist_ok=True)
            fd, self._session_path = tempfile.mkstemp(prefix="logreasoner-sessions-", suffix=".jsonl", dir=folder)
            self._session_file = os.fdopen(fd, "w", encoding="utf-8")
            self.sessionizer = Sessionizer(sessions, self._on_close)
        self.stats = ReadStats()
        self._seconds = 0.0

    def _on_close(self, s: Session) -> None:
        key = s.pattern(self.spec.pattern)
        p = self.patterns.get(key)
        if p is None:
            p = self.patterns[key] = PatternInfo(len(self.patterns) + 1, key, first_session=s.key)
        p.sessions += 1
        p.lines += s.lines
        row = {"session": s.key, "pattern_id": p.id, "lines": s.lines,
               "first": [s.first_source, s.first_line], "last": [s.last_source, s.last_line],
               "templates": s.sequence, "truncated": s.truncated}
        if s.start_ts is not None:
            row["start_ts"], row["end_ts"] = s.start_ts, s.end_ts
        self._session_file.write(json.dumps(row, separators=(",", ":")) + "\n")

    def _src(self, source: str) -> int:
        i = self._source_index.get(source)
        if i is None:
            i = self._source_index[source] = len(self.sources)
            self.sources.append(source)
        return i

    def feed(self, line: LogLine) -> int:
        """Add one line; returns its template (cluster) id."""
        cluster = self._add(self.miner.masker.mask(line.text))
        tid = cluster.cluster_id
        src = self._src(line.source)
        info = self.templates.get(tid)
        if info is None:
            self.templates[tid] = TemplateInfo(tid, "", 1, [line.text], src, line.number)
        else:
            info.count += 1
            if len(info.examples) < self.examples and line.text not in info.examples:
                info.examples.append(line.text)
        if self.spool is not None:
            self.spool.append(src, line.number, tid)
        if self.sessionizer is not None:
            self.sessionizer.add(src, line.number, line.text, tid)
        self.lines += 1
        return tid

    def scan(self, sources: str | os.PathLike | Iterable[str | os.PathLike],
             progress: Callable[[int], None] | None = None, every: int = 100_000) -> "StreamScanner":
        """Stream every line of the sources through :meth:`feed` (the hot loop is inlined here)."""
        t0 = time.perf_counter()
        mask = self.miner.masker.mask
        add = self._add
        templates, examples = self.templates, self.examples
        spool_append = self.spool.append if self.spool is not None else None
        sess_add = self.sessionizer.add if self.sessionizer is not None else None
        last_source, src = None, 0
        n = self.lines
        for line in iter_lines(sources, max_line_chars=self.settings.max_line_chars, stats=self.stats):
            text = line.text
            cluster = add(mask(text))
            tid = cluster.cluster_id
            if line.source is not last_source:
                last_source, src = line.source, self._src(line.source)
            info = templates.get(tid)
            if info is None:
                templates[tid] = TemplateInfo(tid, "", 1, [text], src, line.number)
            else:
                info.count += 1
                if len(info.examples) < examples and text not in info.examples:
                    info.examples.append(text)
            if spool_append is not None:
                spool_append(src, line.number, tid)
            if sess_add is not None:
                sess_add(src, line.number, text, tid)
            n += 1
            if progress is not None and n % every == 0:
                progress(n)
        self.lines = n
        self._seconds += time.perf_counter() - t0
        return self

    def abort(self) -> None:
        """Give up (an error mid-stream): delete the spool files."""
        if self.spool is not None:
            self.spool.close()
        if self._session_file is not None:
            self._session_file.close()
            try:
                os.unlink(self._session_path)
            except FileNotFoundError:
                pass

    def finish(self) -> ScanResult:
        """Close open sessions, read each template's final text, and hand over the result."""
        t0 = time.perf_counter()
        if self.sessionizer is not None:
            self.sessionizer.close_all()
            self._session_file.close()
        clusters = self.miner.drain.id_to_cluster
        for tid, info in self.templates.items():
            info.template = clusters[tid].get_template()
        self._seconds += time.perf_counter() - t0
        return ScanResult(
            sources=list(self.sources), templates=self.templates, lines=self.lines, seconds=self._seconds,
            stats=self.stats, patterns=self.patterns,
            sessions=self.sessionizer.closed if self.sessionizer is not None else 0,
            lines_without_session=self.sessionizer.lines_without_session if self.sessionizer is not None else 0,
            session_spec=self.spec, spool=self.spool,
            session_spool=self._session_path if self.sessionizer is not None else None,
        )


def scan_stream(sources: Any, *, sessions: SessionSpec | None = None, spool: bool = True,
                settings: ScaleSettings | None = None, progress: Callable[[int], None] | None = None,
                examples: int | None = None) -> ScanResult:
    """Pass one in one call: ``with scan_stream("big.log") as scan: ...``."""
    sc = StreamScanner(sessions=sessions, settings=settings, spool=spool, examples=examples)
    try:
        sc.scan(sources, progress=progress)
    except BaseException:
        sc.abort()
        raise
    return sc.finish()
