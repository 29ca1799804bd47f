"""Progress: one bar per cell, with the cell's running primary metric and its count of failed answers."""

from __future__ import annotations

import time
from typing import Any

from logreasoner.evals import scoring

__all__ = ["LiveScore", "progress_bar"]


class LiveScore:
    """The cell's running primary metric, recomputed at most once a second, for the progress bar."""

    def __init__(self, task: str, done: list[dict[str, Any]]) -> None:
        self.task = task
        self.samples = list(done)
        self.primary = scoring.primary_metric(task)
        self._last = 0.0
        self._value: float | None = None

    def add(self, rec: dict[str, Any]) -> None:
        self.samples.append(rec)

    def postfix(self) -> dict[str, Any]:
        """``{primary metric: value, "fail": examples without an answer}`` for the bar."""
        import numpy as np

        now = time.monotonic()
        if self.samples and (now - self._last > 1.0 or self._value is None):
            self._value = scoring.metric_stats(self.task, self.samples)[self.primary](np.ones(len(self.samples)))
            self._last = now
        ff = sum(1 for s in self.samples if s.get("pred") is None)
        return {self.primary: f"{self._value:.3f}" if self._value is not None else "-", "fail": ff}


def progress_bar(desc: str, total: int, *, enabled: bool) -> Any:
    """A tqdm bar (silent when not ``enabled``); the caller closes it."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=True, dynamic_ncols=True)
