"""Reading logs from files, globs, stdin or text: any encoding, gzip, bounded line length, never a crash.

Lines are streamed (bounded memory); undecodable bytes are replaced with U+FFFD and counted; lines longer than
``max_line_chars`` are cut with a visible marker; files that look binary are refused with a clear error. The
format (gzip, UTF-16, binary) is sniffed from the first bytes read, never by seeking, so pipes, FIFOs and process
substitution work; a corrupt or truncated ``.gz`` is an :class:`~logreasoner.errors.InputError` naming the file.
"""

from __future__ import annotations

import glob as _glob
import gzip
import io
import os
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from logreasoner.errors import InputError

__all__ = ["LogLine", "ReadStats", "iter_lines", "read_lines", "expand_sources", "no_lines_error", "TRUNCATION_MARKER"]

TRUNCATION_MARKER = " …[truncated {n} chars]"
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log line: where it came from, its 1-based number in that source, and its text."""

    source: str
    number: int
    text: str


@dataclass
class ReadStats:
    """What reading cost and what it had to repair."""

    sources: list[str] = field(default_factory=list)
    lines: int = 0
    bytes_read: int = 0
    replaced_bytes: int = 0
    truncated_lines: int = 0
    skipped_lines: int = 0
    skipped_sources: list[str] = field(default_factory=list)  # "<file>: <why>" for unreadable files in a folder


def expand_sources(sources: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Expand paths and globs into a sorted list of files; ``-`` means stdin. Missing paths raise InputError."""
    return [s for s, _ in _expand(sources)]


def _expand(sources: str | os.PathLike | Iterable[str | os.PathLike]) -> list[tuple[str, bool]]:
    """(file, named): ``named`` is False for files found in a folder or by a glob (those may be skipped)."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    out: list[tuple[str, bool]] = []
    for src in sources:
        s = os.fspath(src)
        if s == "-":
            out.append((s, True))
            continue
        p = Path(s).expanduser()
        if p.is_dir():
            files = sorted(str(x) for x in p.rglob("*") if x.is_file())
            if not files:
                raise InputError(f"folder {s} holds no files", "point at a log file, a glob or a folder with logs")
            out.extend((f, False) for f in files)
        elif p.exists():
            out.append((str(p), True))
        elif any(c in s for c in "*?["):
            hits = sorted(h for h in _glob.glob(str(p), recursive=True) if Path(h).is_file())
            if not hits:
                raise InputError(f"no file matches {s}", "check the pattern; quote it so the shell does not expand it")
            out.extend((h, False) for h in hits)
        else:
            raise InputError(f"file not found: {s}", "check the path (or pass '-' to read standard input)")
    return out


class _Prefixed(io.RawIOBase):
    """``head`` (bytes already read to sniff the format) followed by the rest of ``stream``: no seek needed, so
    pipes, FIFOs and process substitution (``<(cat f)``) read like files. Closing closes ``stream`` if owned."""

    def __init__(self, head: bytes, stream: BinaryIO, owned: bool = True) -> None:
        self._head = memoryview(head)
        self._stream = stream
        self._owned = owned
        self._read = getattr(stream, "read1", stream.read)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001 - a writable buffer
        n = 0
        if self._head:  # the sniffed bytes, then (in the same call) what follows, so a peek sees a full buffer
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            if n == len(b):
                return n
        data = self._read(len(b) - n)
        b[n: n + len(data)] = data
        return n + len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                if self._owned:
                    self._stream.close()
            finally:
                super().close()


class _GzipStream(gzip.GzipFile):
    """A gzip reader over a stream that also closes that stream; a damaged deflate stream raises
    ``gzip.BadGzipFile`` (an ``OSError``, like every other read error) instead of ``zlib.error``."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__(fileobj=stream)
        self._owned_stream = stream

    def read(self, size: int = -1) -> bytes:
        try:
            return super().read(size)
        except zlib.error as e:
            raise gzip.BadGzipFile(f"corrupt gzip data ({e})") from None

    def read1(self, size: int = -1) -> bytes:
        try:
            return super().read1(size)
        except zlib.error as e:
            raise gzip.BadGzipFile(f"corrupt gzip data ({e})") from None

    def peek(self, n: int) -> bytes:
        try:
            return super().peek(n)
        except zlib.error as e:
            raise gzip.BadGzipFile(f"corrupt gzip data ({e})") from None

    def readline(self, size: int | None = -1) -> bytes:
        try:
            return super().readline(size)
        except zlib.error as e:
            raise gzip.BadGzipFile(f"corrupt gzip data ({e})") from None

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._owned_stream.close()


def _sniff(stream: BinaryIO, n: int = _SNIFF_BYTES) -> tuple[bytes, io.BufferedReader]:
    """The first ``n`` bytes (fewer at the end of the input) and a stream that still starts with them."""
    head = stream.read(n) or b""
    return head, io.BufferedReader(_Prefixed(head, stream), buffer_size=1 << 16)


def _open_binary(source: str) -> BinaryIO:
    """The bytes of a file or of stdin (``-``), decompressed when they start with the gzip magic. The format is
    sniffed from the first bytes read, never by seeking; closing the result never closes stdin."""
    if source == "-":
        raw: BinaryIO = sys.stdin.buffer
    else:
        try:
            raw = open(source, "rb")
        except IsADirectoryError:
            raise InputError(f"{source} is a folder",
                             "pass a file, a glob, or the folder itself to read every file in it") from None
        except PermissionError:
            raise InputError(f"permission denied reading {source}", "check the file's permissions") from None
        except OSError as e:
            raise InputError(f"cannot open {source}: {e.strerror or e}", "pass a readable log file") from None
    try:
        head = raw.read(2) or b""
    except OSError as e:
        if source != "-":
            raw.close()
        raise InputError(f"cannot read {source}: {e.strerror or e}", "pass a readable log file") from None
    stream = io.BufferedReader(_Prefixed(head, raw, owned=source != "-"), buffer_size=1 << 16)
    return _GzipStream(stream) if head == _GZIP_MAGIC else stream  # type: ignore[return-value]


def _looks_binary(chunk: bytes) -> bool:
    if not chunk:
        return False
    if b"\x00" in chunk:
        # UTF-16 text has NULs too; accept it when a BOM says so
        return not chunk.startswith((b"\xff\xfe", b"\xfe\xff"))
    ctrl = sum(1 for b in chunk if b < 32 and b not in (9, 10, 12, 13, 27))
    return ctrl / len(chunk) > 0.10


def _decode(raw: bytes, stats: ReadStats, encoding: str) -> str:
    try:
        return raw.decode(encoding)  # the common case: valid text, no per-character scan
    except UnicodeDecodeError:
        pass
    text = raw.decode(encoding, errors="surrogateescape")
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        n = sum(1 for ch in text if "\udc80" <= ch <= "\udcff")
        stats.replaced_bytes += n
        text = "".join("\ufffd" if "\udc80" <= ch <= "\udcff" else ch for ch in text)
    return text


_READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile)


def _iter_stream(f: BinaryIO, source: str, stats: ReadStats, max_line_chars: int) -> Iterator[LogLine]:
    try:
        head, buffered = _sniff(f)
        if head[:2] == _GZIP_MAGIC:  # gzip by content, whatever the name
            head, buffered = _sniff(gzip.GzipFile(fileobj=buffered))  # type: ignore[arg-type]
    except _READ_ERRORS as e:
        raise InputError(f"cannot read {source}: {e}", "check that the file is a complete text or .gz log") from None
    try:
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            yield from _iter_utf16(buffered, source, stats, max_line_chars)
            return
        if _looks_binary(head):
            raise InputError(
                f"{source} looks like a binary file, not a text log",
                "pass a text log (plain or .gz); decompress other archives first",
            )
        if head.startswith(b"\xef\xbb\xbf"):
            buffered.read(3)
        yield from _iter_utf8(buffered, source, stats, max_line_chars)
    except _READ_ERRORS as e:
        raise InputError(f"cannot read {source}: {e}", "the file may be truncated or not really gzip") from None


def _iter_utf8(buffered: io.BufferedReader, source: str, stats: ReadStats, max_line_chars: int) -> Iterator[LogLine]:
    """The hot loop: each line is decoded strictly first (no per-character scan) and cut only when too long."""
    limit = max(max_line_chars * 4 + 4, 1024)  # bytes: up to 4 per char in UTF-8
    readline = buffered.readline
    number = 0
    while True:
        raw = readline(limit)
        if not raw:
            break
        stats.bytes_read += len(raw)
        overflow = 0
        if not raw.endswith(b"\n") and len(raw) >= limit:
            # a huge line: keep its head, skip (and count) the rest without holding it in memory
            while True:
                more = readline(1 << 20)
                if not more:
                    break
                stats.bytes_read += len(more)
                overflow += len(more.rstrip(b"\r\n"))
                if more.endswith(b"\n"):
                    break
        number += 1
        text = _decode(raw.rstrip(b"\r\n"), stats, "utf-8")
        stats.lines += 1
        if overflow or len(text) > max_line_chars:
            text = _cut(text, max_line_chars, stats, extra=overflow)
        yield LogLine(source, number, text)


def _iter_utf16(buffered: io.BufferedReader, source: str, stats: ReadStats, max_line_chars: int) -> Iterator[LogLine]:
    """UTF-16 with a BOM, streamed like UTF-8 (bad code units become U+FFFD and are counted)."""
    text_io = io.TextIOWrapper(buffered, encoding="utf-16", errors="replace", newline="\n")
    number = 0
    while True:
        t = text_io.readline(max_line_chars + 1)
        if not t:
            break
        stats.bytes_read += 2 * len(t)
        overflow = 0
        if not t.endswith("\n") and len(t) > max_line_chars:
            while True:
                more = text_io.readline(1 << 18)
                if not more:
                    break
                stats.bytes_read += 2 * len(more)
                overflow += len(more.rstrip("\r\n"))
                if more.endswith("\n"):
                    break
        number += 1
        t = t.rstrip("\r\n")
        stats.replaced_bytes += t.count("\ufffd")
        stats.lines += 1
        yield LogLine(source, number, _cut(t, max_line_chars, stats, extra=overflow))


def _cut(text: str, max_chars: int, stats: ReadStats, extra: int = 0) -> str:
    if len(text) <= max_chars and not extra:
        return text
    stats.truncated_lines += 1
    dropped = max(0, len(text) - max_chars) + extra
    return text[:max_chars] + TRUNCATION_MARKER.format(n=dropped)


def iter_lines(
    sources: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    max_line_chars: int = 2000,
    stats: ReadStats | None = None,
    skip_blank: bool = True,
) -> Iterator[LogLine]:
    """Stream the lines of one or more sources (files, globs, folders, ``-``) in bounded memory.

    A file named directly that cannot be read raises :class:`InputError`; one found in a folder or by a glob (a
    binary, a corrupt ``.gz``) is skipped and listed in ``stats.skipped_sources``.
    """
    stats = stats if stats is not None else ReadStats()
    for source, named in _expand(sources):
        stats.sources.append(source)
        try:
            f = _open_binary(source)
        except InputError as e:
            if named:
                raise
            stats.skipped_sources.append(f"{source}: {e.message}")
            continue
        try:
            for line in _iter_stream(f, source, stats, max_line_chars):
                if skip_blank and not line.text.strip():
                    stats.skipped_lines += 1
                    continue
                yield line
        except InputError as e:  # a file found in a folder or by a glob: skip it (and say so), read the others
            if named:
                raise
            stats.skipped_sources.append(f"{source}: {e.message}")
        finally:
            f.close()


def read_lines(
    sources: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
    *,
    text: str | None = None,
    max_line_chars: int = 2000,
    max_lines: int | None = None,
    stats: ReadStats | None = None,
) -> list[LogLine]:
    """Read all lines (or the first ``max_lines``) from sources, or split ``text``. Empty input raises InputError."""
    stats = stats if stats is not None else ReadStats()
    if text is not None:
        stats.sources.append("<text>")
        out = []
        for i, t in enumerate(text.splitlines(), 1):
            stats.lines += 1
            if t.strip():
                out.append(LogLine("<text>", i, _cut(t, max_line_chars, stats)))
            if max_lines and len(out) >= max_lines:
                break
    else:
        if sources is None:
            raise InputError("no log given", "pass a path, a glob, '-' for stdin, or text=...")
        out = []
        for line in iter_lines(sources, max_line_chars=max_line_chars, stats=stats):
            out.append(line)
            if max_lines and len(out) >= max_lines:
                break
    if not out:
        raise no_lines_error(stats)
    return out


def no_lines_error(stats: ReadStats) -> InputError:
    """The error for input without a single log line (naming the files skipped as unreadable, if any)."""
    where = ", ".join(stats.sources[:5]) + (f" and {len(stats.sources) - 5} more" if len(stats.sources) > 5 else "")
    if stats.skipped_sources:
        return InputError(f"no readable log lines in {where or 'the input'} (skipped {len(stats.skipped_sources)} "
                          f"unreadable file(s), e.g. {stats.skipped_sources[0]})",
                          "pass text logs (plain or .gz)")
    return InputError(f"{where or 'the input'} holds no log lines (empty or blank)", "pass a log with at least one line")
