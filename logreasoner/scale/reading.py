"""Streaming lines fast: :func:`logreasoner.logs.reader.iter_lines` with a cheaper decode on the common path.

The reader checks every decoded line character by character for undecodable bytes; on clean UTF-8 that scan
is most of the reading cost (about 85% measured on Loghub lines). Here each line is decoded strictly first and
only a line that fails goes through the reader's repairing decode, so the output is the same line for line
(tested), at several times the speed. UTF-16 files, binary refusal, gzip, stdin, huge lines, BOMs and the
statistics behave exactly as in the reader, whose helpers this module reuses.

Suggested change upstream (then this module can go): in ``reader._decode`` try ``raw.decode(encoding)`` and fall
back on the surrogate-escape path only on ``UnicodeDecodeError``.
"""

from __future__ import annotations

import gzip
import io
import os
from typing import BinaryIO, Iterable, Iterator

from logreasoner.errors import InputError
from logreasoner.logs import reader as _reader
from logreasoner.logs.reader import LogLine, ReadStats, expand_sources

__all__ = ["iter_lines_fast"]


def _decode(raw: bytes, stats: ReadStats) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _reader._decode(raw, stats, "utf-8")


def _stream(f: BinaryIO, source: str, stats: ReadStats, max_line_chars: int) -> Iterator[LogLine]:
    buffered = f if isinstance(f, io.BufferedReader) else io.BufferedReader(f)  # type: ignore[arg-type]
    try:
        head = buffered.peek(_reader._SNIFF_BYTES)[: _reader._SNIFF_BYTES]
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise InputError(f"cannot read {source}: {e}", "check that the file is a complete text or .gz log") from None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _reader._looks_binary(head):
        yield from _reader._iter_stream(buffered, source, stats, max_line_chars)  # UTF-16, or the binary refusal
        return
    if head.startswith(b"\xef\xbb\xbf"):
        buffered.read(3)
    limit = max(max_line_chars * 4 + 4, 1024)
    cut = _reader._cut
    readline = buffered.readline
    number = 0
    try:
        while True:
            raw = readline(limit)
            if not raw:
                break
            stats.bytes_read += len(raw)
            overflow = 0
            if not raw.endswith(b"\n") and len(raw) >= limit:
                while True:
                    more = readline(1 << 20)
                    if not more:
                        break
                    stats.bytes_read += len(more)
                    overflow += len(more.rstrip(b"\r\n"))
                    if more.endswith(b"\n"):
                        break
            number += 1
            text = _decode(raw.rstrip(b"\r\n"), stats)
            stats.lines += 1
            if overflow or len(text) > max_line_chars:
                text = cut(text, max_line_chars, stats, extra=overflow)
            yield LogLine(source, number, text)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise InputError(f"cannot read {source}: {e}", "the file may be truncated or not really gzip") from None


def iter_lines_fast(
    sources: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    max_line_chars: int = 2000,
    stats: ReadStats | None = None,
    skip_blank: bool = True,
) -> Iterator[LogLine]:
    """Same contract and output as :func:`logreasoner.logs.reader.iter_lines`, faster on clean UTF-8."""
    stats = stats if stats is not None else ReadStats()
    for source in expand_sources(sources):
        stats.sources.append(source)
        f = _reader._open_binary(source)
        try:
            for line in _stream(f, source, stats, max_line_chars):
                if skip_blank and not line.text.strip():
                    stats.skipped_lines += 1
                    continue
                yield line
        finally:
            if source != "-":
                f.close()
