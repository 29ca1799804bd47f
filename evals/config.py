"""What an eval runs: :class:`RunConfig` (saved as the run folder's ``config.json``) and :class:`UserData`.

Both are validated on creation; a resumed run reads ``config.json`` back through :class:`RunConfig`, so a field
added here must have a default that reproduces what older runs did.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from logreasoner.evals.splits import check_split
from logreasoner.evals.suites import get_suite

__all__ = ["RunConfig", "UserData", "DEFAULT_PROGRAMS", "default_local_workers"]

DEFAULT_PROGRAMS = ["direct", "cot", "coarse_to_fine", "drain3", "keyword", "level", "majority", "echo"]


class UserData(BaseModel):
    """A user's JSONL/CSV file and its column mapping."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    task: str
    input_field: str = "log"
    label_field: str = "answer"
    question_field: str | None = None
    labels: list[str] | None = None
    id_field: str | None = None
    labels_field: str | None = Field(None, description="column holding each row's own label set (list or 'a|b|c')")


def default_local_workers() -> int:
    """Two copies of an in-process model on a machine with two or more cores, else one: on the 2-core machine two
    copies with one llama.cpp thread each answered 20 coarse-to-fine examples in 112.8 s, one copy with two
    threads in 131.4 s (same answers, same tokens; benchmarks/EVAL_LOCAL.md)."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


class RunConfig(BaseModel):
    """What to run. Validated on creation; saved as ``config.json`` in the run folder."""

    model_config = ConfigDict(extra="forbid")

    suite: str | None = None
    datasets: list[str] = Field(default_factory=list)
    user_data: UserData | None = None
    programs: list[str] = Field(default_factory=list, description="program names; empty: the suite's programs, "
                                "else DEFAULT_PROGRAMS (filled in on creation, so config.json names them)")
    models: list[str] = Field(default_factory=list, description="model specs; empty: the settings' default model")
    split: str | None = Field(None, description="train/dev/test/all; None: the suite's, 'test', or 'all' for user data")
    limit: int | None = Field(None, ge=0)
    seed: int = 0
    threads: int = Field(8, ge=1, le=256, description="worker threads for remote models")
    local_workers: int = Field(default_factory=lambda: default_local_workers(), ge=1, le=16,
                               description="in-process models: this many model copies answer in parallel, the "
                                           "machine's threads split between them (default: 2 on 2+ cores)")
    bootstrap: int = Field(1000, ge=0, le=100_000, description="bootstrap resamples for the intervals")
    cache: bool = True
    retry_errors: bool = Field(True, description="on resume, run again the examples that raised")
    plots: bool = Field(True, description="write PNG plots (needs matplotlib)")

    @field_validator("split")
    @classmethod
    def _split(cls, v: str | None) -> str | None:
        return None if v is None else check_split(v)

    @field_validator("suite")
    @classmethod
    def _suite(cls, v: str | None) -> str | None:
        if v is not None:
            get_suite(v)
        return v

    @field_validator("programs")
    @classmethod
    def _programs(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _default_programs(self) -> "RunConfig":
        if not self.programs:
            suite = get_suite(self.suite) if self.suite else None
            self.programs = list(suite.programs if suite and suite.programs else DEFAULT_PROGRAMS)
        return self
