"""The run's checkpoint: ``samples.jsonl``, one JSON record per finished example, appended and fsynced.

A record is written the moment its example finishes, so an interrupted run loses at most the examples in
flight; on restart the finished keys are skipped and nothing is paid twice. A partial last line (the process
died mid-write) is cut off when the file is reopened.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator

__all__ = ["SampleLog", "read_samples", "to_jsonable"]


def to_jsonable(obj: Any, _depth: int = 0) -> Any:
    """Plain JSON data from pydantic models, dataclasses, predictions, containers (repr as a last resort)."""
    if _depth > 12:
        return repr(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    try:
        from pydantic import BaseModel

        if isinstance(obj, BaseModel):
            return obj.model_dump(mode="json")
    except ImportError:  # pragma: no cover
        pass
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: to_jsonable(v, _depth + 1) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, _depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v, _depth + 1) for v in obj]
    if hasattr(obj, "toDict") and callable(obj.toDict):
        return to_jsonable(obj.toDict(), _depth + 1)
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)


def read_samples(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete record of a samples file, in order (unreadable lines are skipped)."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # a partial record from a process that died mid-write
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "key" in rec:
                yield rec


class SampleLog:
    """Append-only, thread-safe, fsynced JSONL of finished examples."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fh = None

    def latest(self) -> dict[str, dict[str, Any]]:
        """The last record written for each key."""
        out: dict[str, dict[str, Any]] = {}
        for rec in read_samples(self.path):
            out[rec["key"]] = rec
        return out

    def _repair_tail(self) -> None:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 1))
            if f.read(1) == b"\n":
                return
            # cut back to the last newline
            pos = size
            chunk = 4096
            while pos > 0:
                start = max(0, pos - chunk)
                f.seek(start)
                data = f.read(pos - start)
                i = data.rfind(b"\n")
                if i >= 0:
                    f.truncate(start + i + 1)
                    return
                pos = start
            f.truncate(0)

    def open(self) -> "SampleLog":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._fh = open(self.path, "a", encoding="utf-8")
        return self

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(to_jsonable(record), ensure_ascii=False) + "\n"
        with self._lock:
            if self._fh is None:
                self.open()
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> "SampleLog":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()
