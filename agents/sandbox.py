"""File access confined to the roots a server or agent was started with, with bounded reads.

Every path a tool receives is resolved (``..`` collapsed, symlinks followed) *before* it is checked against the
allowed roots; a path that lands outside them is refused, whether it got there by ``..``, by being absolute, or
through a symlink. After opening, the open descriptor is checked again (``/proc/self/fd``), so a symlink swapped
in between the check and the open is caught too. Reads are bounded in bytes (after gzip decompression) and lines.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from pydantic import BaseModel, ConfigDict, Field

from logreasoner.errors import ConfigError, InputError
from logreasoner.logs.reader import TRUNCATION_MARKER, LogLine

__all__ = ["ReadLimits", "Sandbox", "PathNotAllowedError", "FileRead", "ListedFile"]

_GZIP_MAGIC = b"\x1f\x8b"


_READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a plain file"


class PathNotAllowedError(InputError):
    """A path outside the allowed roots (by ``..``, an absolute path, or a symlink)."""


class ReadLimits(BaseModel):
    """How much a tool may read from one file or text (validated on creation)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_bytes: int = Field(8_000_000, ge=1, description="bytes read per file (after decompression)")
    max_lines: int = Field(100_000, ge=1, description="lines read per file")
    max_line_chars: int = Field(2000, ge=80, description="longer lines are cut with a visible marker")
    max_files: int = Field(1000, ge=1, description="files listed per folder listing")


@dataclass
class FileRead:
    """Lines read from one confined file, and whether a limit stopped the read."""

    path: str  # as shown to callers: relative to its root
    real_path: Path
    lines: list[LogLine] = field(default_factory=list)
    lines_read: int = 0
    bytes_read: int = 0
    truncated_by: str | None = None  # "bytes" | "lines" | None
    more: bool = False  # the file goes on past the window asked for


@dataclass(frozen=True)
class ListedFile:
    path: str
    size: int


class _GzipOwningFile(gzip.GzipFile):
    """A gzip reader that also closes the file it reads from."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__(fileobj=raw)
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


class Sandbox:
    """Resolve and read files under a fixed set of root folders, nowhere else."""

    def __init__(self, roots: list[str | os.PathLike] | tuple = (), limits: ReadLimits | None = None) -> None:
        self.limits = limits or ReadLimits()
        resolved: list[Path] = []
        for r in roots:
            p = Path(os.path.realpath(os.fspath(r)))
            if not p.is_dir():
                raise ConfigError(f"root {os.fspath(r)} is not a folder", "pass existing folders with --root DIR")
            if p not in resolved:
                resolved.append(p)
        self.roots: tuple[Path, ...] = tuple(resolved)

    # -- paths ------------------------------------------------------------------------------------------------------
    def _require_roots(self) -> None:
        if not self.roots:
            raise PathNotAllowedError("no folder is open to this tool",
                                      "start the server with --root DIR (repeatable) to allow reading files under DIR")

    def _inside(self, real: Path) -> Path | None:
        for root in self.roots:
            if real == root or real.is_relative_to(root):
                return root
        return None

    def display(self, real: Path) -> str:
        """The path as callers see it: relative to its root (POSIX separators)."""
        root = self._inside(real)
        if root is None:
            return real.name
        rel = real.relative_to(root).as_posix()
        return rel if len(self.roots) == 1 else f"{root.name}/{rel}"

    def resolve(self, path: str | os.PathLike, *, must_exist: bool = True) -> Path:
        """The real path of ``path`` if it lies under a root; relative paths are taken from each root in turn."""
        self._require_roots()
        raw = os.fspath(path)
        if not raw or "\x00" in raw:
            raise InputError("empty or malformed path", "pass a file path relative to the allowed folder")
        given = Path(raw)
        if given.is_absolute():
            candidates = [given]
        else:
            if len(self.roots) > 1 and given.parts and given.parts[0] in {r.name for r in self.roots}:
                # "rootname/rel" as shown by display() when several roots are open
                candidates = [r.parent / given for r in self.roots if r.name == given.parts[0]]
            else:
                candidates = []
            candidates += [root / given for root in self.roots]
        chosen = next((c for c in candidates if os.path.lexists(c)), candidates[0])
        real = Path(os.path.realpath(chosen))
        if self._inside(real) is None:
            lexical = Path(os.path.normpath(os.path.abspath(chosen)))
            allowed = ", ".join(str(r) for r in self.roots)
            if self._inside(lexical) is not None:
                raise PathNotAllowedError(f"{raw} is a symlink (or passes through one) that leads outside the "
                                          "allowed folders", f"only files under {allowed} can be read")
            raise PathNotAllowedError(f"{raw} is outside the allowed folders",
                                      f"pass a path under {allowed} (no '..' escapes, no outside absolute paths)")
        if must_exist and not real.exists():
            raise InputError(f"file not found: {raw}", "list the folder to see which files exist")
        return real

    # -- reading ----------------------------------------------------------------------------------------------------
    def _open(self, real: Path) -> BinaryIO:
        """Open a regular file under a root without ever blocking: FIFOs, sockets and devices are refused before
        and after opening (``O_NONBLOCK``, then ``fstat`` on the descriptor really opened)."""
        shown = self.display(real)
        try:
            st = os.stat(real)
        except OSError as e:
            raise InputError(f"cannot open {shown}: {e.strerror}", "list the folder to see which files exist") from None
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{shown} is a folder", "pass a file inside it (list the folder first)")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{shown} is not a regular file ({_kind(st.st_mode)})",
                             "only regular log files (plain or .gz) are read")
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        try:
            fd = os.open(real, flags)
        except OSError as e:
            raise InputError(f"cannot open {shown}: {e.strerror}", "check the file's permissions") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # swapped for a FIFO or device between the check and the open
                raise InputError(f"{shown} is not a regular file ({_kind(st.st_mode)})",
                                 "only regular log files (plain or .gz) are read")
            proc = Path(f"/proc/self/fd/{fd}")
            if proc.exists():  # Linux: check what was really opened (a swapped-in symlink is caught here)
                opened = Path(os.path.realpath(proc))
                if self._inside(opened) is None:
                    raise PathNotAllowedError(f"{shown} changed to point outside the allowed folders",
                                              "only files under the allowed folders can be read")
            if hasattr(os, "set_blocking"):
                os.set_blocking(fd, True)
            f = os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise
        head = f.read(2)
        f.seek(0)
        if head == _GZIP_MAGIC:
            return _GzipOwningFile(f)  # type: ignore[return-value]
        return f

    def iter_file(self, path: str | os.PathLike, result: FileRead | None = None) -> Iterator[LogLine]:
        """Stream a confined file's lines (1-based numbers), stopping at the byte and line limits.

        Pass a :class:`FileRead` to learn afterwards how much was read and whether a limit stopped the read.
        """
        real = self.resolve(path)
        shown = self.display(real)
        res = result if result is not None else FileRead(shown, real)
        res.path, res.real_path = shown, real
        f = self._open(real)
        try:
            stream = io.BufferedReader(f) if not isinstance(f, io.BufferedReader) else f  # type: ignore[arg-type]
            yield from self._lines(stream, shown, res)
        except _READ_ERRORS as e:
            raise InputError(f"cannot read {shown}: {e}",
                             "the file may be a truncated or corrupt .gz; other files can still be read") from None
        finally:
            f.close()

    def _lines(self, stream: io.BufferedReader, shown: str, res: FileRead) -> Iterator[LogLine]:
        lim = self.limits
        head = stream.peek(8192)[:8192]
        if b"\x00" in head:
            raise InputError(f"{shown} looks like a binary file (or UTF-16), not a UTF-8 text log",
                             "convert it to UTF-8 text first")
        per_line = lim.max_line_chars * 4 + 4
        while True:
            if res.lines_read >= lim.max_lines:
                if stream.peek(1):
                    res.truncated_by = "lines"
                break
            budget = lim.max_bytes - res.bytes_read
            if budget <= 0:
                if stream.peek(1):
                    res.truncated_by = "bytes"
                break
            raw = stream.readline(min(per_line, budget))
            if not raw:
                break
            res.bytes_read += len(raw)
            dropped = 0
            if not raw.endswith(b"\n") and len(raw) >= per_line:
                # an over-long line: skip the rest of it (still counted against the byte budget)
                while res.bytes_read < lim.max_bytes:
                    more = stream.readline(min(1 << 16, lim.max_bytes - res.bytes_read))
                    if not more:
                        break
                    res.bytes_read += len(more)
                    dropped += len(more)
                    if more.endswith(b"\n"):
                        break
            res.lines_read += 1
            text = raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
            if len(text) > lim.max_line_chars or dropped:
                text = text[: lim.max_line_chars] + TRUNCATION_MARKER.format(
                    n=max(0, len(text) - lim.max_line_chars) + dropped)
            yield LogLine(shown, res.lines_read, text)

    def read(self, path: str | os.PathLike, *, start: int = 1, count: int | None = None,
             skip_blank: bool = False) -> FileRead:
        """Lines ``start .. start+count-1`` of a confined file (all lines within the limits when ``count`` is None)."""
        if start < 1:
            raise InputError(f"start line {start} is not valid", "line numbers start at 1")
        if count is not None and count < 1:
            raise InputError(f"count {count} is not valid", "ask for at least one line")
        res = FileRead(str(path), Path())
        for line in self.iter_file(path, res):
            if line.number < start:
                continue
            if count is not None and line.number >= start + count:
                res.more = True
                break
            if skip_blank and not line.text.strip():
                continue
            res.lines.append(line)
        return res

    def line_at(self, path: str | os.PathLike, number: int) -> LogLine | None:
        """One line by number, or None when the file has no such line (within the limits)."""
        if number < 1:
            return None
        r = self.read(path, start=number, count=1)
        return r.lines[0] if r.lines else None

    def list_files(self, folder: str | os.PathLike = ".") -> tuple[list[ListedFile], int, bool]:
        """Files under ``folder`` (recursively, sorted): (files, skipped_outside, truncated).

        Symlinks that lead outside the roots are skipped and counted; symlinked folders are not descended into.
        """
        real = self.resolve(folder)
        if not real.is_dir():
            if not real.is_file():
                raise InputError(f"{self.display(real)} is not a regular file or folder",
                                 "only regular log files (plain or .gz) are read")
            return [ListedFile(self.display(real), real.stat().st_size)], 0, False
        out: list[ListedFile] = []
        skipped = 0
        truncated = False
        for dirpath, dirnames, filenames in os.walk(real, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                p = Path(dirpath) / name
                target = Path(os.path.realpath(p))
                if self._inside(target) is None or not target.is_file():
                    skipped += 1
                    continue
                if len(out) >= self.limits.max_files:
                    truncated = True
                    break
                out.append(ListedFile(self.display(p if not p.is_symlink() else target), target.stat().st_size))
            if truncated:
                break
        out.sort(key=lambda f: f.path)
        return out, skipped, truncated
