"""A run's resumable state: ``<run_dir>/state.json`` records each finished stage, its wall time, peak memory,
its outputs and a hash of the configuration it ran with. A finished stage is skipped on the next run unless its
configuration changed or it is forced."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

__all__ = ["RunState", "PeakMemory", "config_hash"]


def config_hash(obj: Any) -> str:
    return hashlib.blake2b(json.dumps(obj, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()


class PeakMemory:
    """Peak resident memory (MB) of this process over a block, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _rss(self) -> float:
        try:
            import psutil

            return psutil.Process(os.getpid()).memory_info().rss / 2**20
        except ImportError:  # psutil comes with accelerate; without it fall back on the process-lifetime peak
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakMemory":
        self.peak_mb = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss())


class RunState:
    """Read/write ``state.json`` of a run folder."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "state.json"
        self.data: dict[str, Any] = {"stages": {}}
        if self.path.is_file():
            self.data = json.loads(self.path.read_text())
            self.data.setdefault("stages", {})

    def save(self, names: list[str] | None = None) -> None:
        """Write ``state.json``; with ``names``, merge just those stages into what is on disk (under a file lock),
        so two processes working on different stages of one run (e.g. two eval workers) do not erase each other."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            data = self.data
            if names is not None and self.path.is_file():
                data = json.loads(self.path.read_text())
                data.setdefault("stages", {})
                for n in names:
                    if n in self.data["stages"]:
                        data["stages"][n] = self.data["stages"][n]
                    else:
                        data["stages"].pop(n, None)
                self.data = data
            tmp = self.path.with_name(f"state.json.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, default=str))
            tmp.replace(self.path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # not POSIX: no cross-process lock
            yield
            return
        with open(self.run_dir / ".state.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def stage(self, name: str) -> dict[str, Any] | None:
        return self.data["stages"].get(name)

    def done(self, name: str, chash: str | None = None) -> bool:
        st = self.stage(name)
        return bool(st and st.get("status") == "done" and (chash is None or st.get("config_hash") == chash))

    def invalidate_from(self, names: list[str]) -> None:
        """Forget these stages (a changed earlier stage makes later results stale)."""
        for n in names:
            self.data["stages"].pop(n, None)
        self.save(list(names))

    @contextmanager
    def running(self, name: str, chash: str | None = None) -> Iterator[dict[str, Any]]:
        """Record a stage: status, wall time, peak memory; the yielded dict collects its outputs."""
        outputs: dict[str, Any] = {}
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.data["stages"][name] = {"status": "running", "started": started, "config_hash": chash}
        self.save([name])
        t0 = time.perf_counter()
        mem = PeakMemory()
        try:
            with mem:
                yield outputs
        except BaseException as e:
            self.data["stages"][name].update(status="failed", error=f"{type(e).__name__}: {e}"[:500],
                                             seconds=round(time.perf_counter() - t0, 1))
            self.save([name])
            raise
        self.data["stages"][name] = {
            "status": "done", "started": started, "config_hash": chash,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - t0, 1), "peak_rss_mb": round(mem.peak_mb, 1),
            "outputs": outputs,
        }
        self.save([name])
