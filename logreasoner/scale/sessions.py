"""Windows and sessions over a line stream: by count, by time, or by an id found in the lines.

A session keeps bounded state: its template-id sequence (capped at ``max_templates``), the set of its template
ids, counts and first/last positions; never its lines. Sessions are closed (handed to ``on_close``) when their
window ends, when they sit idle for ``idle_lines`` lines, when more than ``max_open`` are open (the least
recently active goes first), and at the end of the stream.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from logreasoner.scale.timestamps import TimestampParser

__all__ = ["SessionSpec", "Session", "Sessionizer", "HDFS_BLOCK_ID"]

HDFS_BLOCK_ID = r"blk_-?\d+"


class SessionSpec(BaseModel):
    """How lines are cut into sessions (validated on creation)."""

    model_config = ConfigDict(extra="forbid")

    by: Literal["count", "time", "id"] = Field(description="count: every `size` lines; time: windows of `seconds`; "
                                                           "id: lines sharing an id matched by `id_regex`")
    size: int = Field(100, ge=1, description="lines per window (by=count)")
    seconds: float = Field(60.0, gt=0, description="window length in seconds (by=time)")
    id_regex: str = Field(HDFS_BLOCK_ID, description="the session id in a line (by=id); group 1 if it has groups")
    ts_regex: str | None = Field(None, description="your own timestamp regex (by=time); default: common formats")
    ts_format: str | None = Field(None, description="strptime format for what ts_regex matched")
    lateness: int = Field(1, ge=0, description="time windows kept open behind the newest (out-of-order lines)")
    idle_lines: int | None = Field(None, ge=1, description="by=id: close a session after N lines without it")
    max_templates: int = Field(256, ge=1, le=100_000, description="cap on a session's template-id sequence")
    max_open: int = Field(100_000, ge=1, description="open sessions kept; the least recently active closes first")
    max_ids_per_line: int = Field(8, ge=1, description="by=id: a line naming several ids joins up to this many")
    pattern: Literal["set", "sequence"] = Field("set", description="what makes two sessions alike: the set of "
                                                                   "their templates, or their (capped) sequence")

    @field_validator("id_regex")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"bad id regex {v!r}: {e}") from None
        return v

    @model_validator(mode="after")
    def _ts(self) -> "SessionSpec":
        if self.ts_format and not self.ts_regex:
            raise ValueError("ts_format needs ts_regex")
        return self


@dataclass(slots=True)
class Session:
    """One closed (or open) session: where it starts and ends, and which templates it holds."""

    key: str
    first_source: int
    first_line: int
    last_source: int = 0
    last_line: int = 0
    lines: int = 0
    sequence: list[int] = field(default_factory=list)
    template_set: set[int] = field(default_factory=set)
    truncated: bool = False
    start_ts: float | None = None
    end_ts: float | None = None
    last_seen: int = 0  # stream position of its last line (idle eviction)

    def pattern(self, mode: str) -> tuple[int, ...]:
        """The session's pattern: sorted template ids (``set``) or the capped sequence (``sequence``)."""
        return tuple(sorted(self.template_set)) if mode == "set" else tuple(self.sequence)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class Sessionizer:
    """Feed ``add(source_index, line_number, text, template_id)`` per line; closed sessions go to ``on_close``."""

    def __init__(self, spec: SessionSpec, on_close: Callable[[Session], None]) -> None:
        self.spec = spec
        self.on_close = on_close
        self.open: OrderedDict[object, Session] = OrderedDict()
        self.position = 0
        self.closed = 0
        self.lines_without_session = 0
        self._id_rx = re.compile(spec.id_regex) if spec.by == "id" else None
        if spec.by == "time":
            self._ts = TimestampParser(spec.ts_regex, spec.ts_format)
        self._last_ts: float | None = None
        self._newest_window: int | None = None

    # -- internals -------------------------------------------------------------------------------------------------
    def _touch(self, key: object, label: str, src: int, number: int, tid: int, ts: float | None) -> None:
        s = self.open.get(key)
        if s is None:
            s = Session(label, src, number)
            self.open[key] = s
        else:
            self.open.move_to_end(key)
        s.last_source, s.last_line, s.last_seen = src, number, self.position
        s.lines += 1
        if len(s.sequence) < self.spec.max_templates:
            s.sequence.append(tid)
        else:
            s.truncated = True
        s.template_set.add(tid)
        if ts is not None:
            s.start_ts = ts if s.start_ts is None else min(s.start_ts, ts)
            s.end_ts = ts if s.end_ts is None else max(s.end_ts, ts)

    def _close(self, key: object) -> None:
        s = self.open.pop(key)
        self.closed += 1
        self.on_close(s)

    def _evict(self) -> None:
        while len(self.open) > self.spec.max_open:
            self._close(next(iter(self.open)))
        idle = self.spec.idle_lines
        if idle is not None:
            while self.open:
                key = next(iter(self.open))
                if self.position - self.open[key].last_seen < idle:
                    break
                self._close(key)

    # -- the stream ------------------------------------------------------------------------------------------------
    def add(self, src: int, number: int, text: str, tid: int) -> None:
        self.position += 1
        spec = self.spec
        if spec.by == "count":
            w = (self.position - 1) // spec.size
            if self.open and next(reversed(self.open)) != w:
                self._close(next(iter(self.open)))
            self._touch(w, f"lines-{w * spec.size + 1}-{(w + 1) * spec.size}", src, number, tid, None)
            return
        if spec.by == "time":
            ts = self._ts.parse(text)
            if ts is None:
                ts = self._last_ts  # a line without a timestamp (a stack trace) belongs with the line before
            else:
                self._last_ts = ts
            if ts is None:
                self._touch("untimed", "untimed", src, number, tid, None)
                return
            w = int(ts // spec.seconds)
            if self._newest_window is None or w > self._newest_window:
                self._newest_window = w
                if "untimed" in self.open:
                    self._close("untimed")
                for key in [k for k in self.open if k < w - spec.lateness]:
                    self._close(key)
            self._touch(w, _iso(w * spec.seconds), src, number, tid, ts)
            self._evict()
            return
        ids = self._id_rx.findall(text)
        if not ids:
            self.lines_without_session += 1
        else:
            seen: set[str] = set()
            for raw in ids:
                key = raw if isinstance(raw, str) else next((g for g in raw if g), "")
                if key in seen:
                    continue
                seen.add(key)
                self._touch(key, key, src, number, tid, None)
                if len(seen) >= spec.max_ids_per_line:
                    break
        self._evict()

    def close_all(self) -> None:
        """End of the stream: close every open session (oldest first)."""
        for key in list(self.open):
            self._close(key)
