"""A compact on-disk record of every line's template: 12 bytes a line, written and read back in chunks.

Templates are only final once the whole stream has been mined (Drain3 generalises them as lines arrive), so the
per-line answer is written in a second pass over this spool. Memory stays bounded by the chunk size.
"""

from __future__ import annotations

import os
import tempfile
from array import array
from pathlib import Path
from typing import Iterator

__all__ = ["LineSpool"]


class LineSpool:
    """Append ``(source_index, line_number, template_id)``; iterate them back in order; delete on close."""

    def __init__(self, folder: str | os.PathLike | None = None, chunk: int = 1 << 16) -> None:
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
        fd, self.path = tempfile.mkstemp(prefix="logreasoner-spool-", suffix=".bin", dir=folder)
        self._f = os.fdopen(fd, "w+b")
        self._buf = array("I")
        self._chunk = chunk * 3
        self.count = 0

    def append(self, source: int, number: int, template_id: int) -> None:
        b = self._buf
        b.append(source)
        b.append(number)
        b.append(template_id)
        self.count += 1
        if len(b) >= self._chunk:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._buf.tofile(self._f)
            self._buf = array("I")

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        self._flush()
        self._f.flush()
        with open(self.path, "rb") as f:
            while True:
                a = array("I")
                try:
                    a.fromfile(f, self._chunk)
                except EOFError:
                    pass  # the last, partial chunk: fromfile keeps what it read
                if not a:
                    return
                for i in range(0, len(a), 3):
                    yield a[i], a[i + 1], a[i + 2]

    @property
    def bytes(self) -> int:
        return self.count * 3 * array("I").itemsize

    def close(self) -> None:
        try:
            self._f.close()
        finally:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "LineSpool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten spool must not leave files behind
        try:
            self.close()
        except Exception:
            pass
