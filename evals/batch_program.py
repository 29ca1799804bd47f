"""The parser ``logreasoner parse`` runs, as an eval program: ``--program batch_parse`` (or ``batch_parse:cot``).

The LLM parse programs answer one line at a time; the parser users run groups a log's lines first (Drain3), asks
the model once per group with a few diverse lines, checks the template against every line of the group and
falls back to Drain's template where it does not fit (:class:`logreasoner.logs.batch_parse.BatchParser`, the way
LILAC and LogBatcher parse). Evaluating it needs what the Drain3 baseline gets: every unlabelled line of the
dataset first (:meth:`BatchParseProgram.prepare`, called by the runner, no gold), grouped by system. A system's
lines are parsed on the first example of that system the runner asks for, under that example's model
(``dspy.context``), and every later line of the system is read from that parse; no template cache is read or
written (an eval must not depend on what earlier runs left behind). Each answer carries its ``origin``:
``model`` (the model's template, as written or merged with Drain's) or ``drain`` (the model's answer failed the
check, or it gave none); the example whose call parsed its system also carries ``parsed_group`` (lines, groups,
model calls, templates taken, rejected answers, fallback lines, seconds).
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Any, Iterable

import dspy

from logreasoner.contracts.answers import ParseAnswer
from logreasoner.errors import ConfigError
from logreasoner.logs.batch_parse import BatchParser, BatchParseSettings, ParseStats
from logreasoner.programs.group_template import ProgramTemplater
from logreasoner.programs.kinds import PROGRAM_KINDS, program_kind

__all__ = ["BatchParseProgram", "BATCH_PARSE"]

BATCH_PARSE = "batch_parse"


def _first_line(log: Any) -> str:
    text = str(log or "")
    return text.splitlines()[0].rstrip("\r\n") if text.strip() else ""


class BatchParseProgram(dspy.Module):
    """The batch parser over one parse program (``direct`` by default) as a one-line-in, template-out program."""

    tasks = ("parse",)
    accepts_meta = True

    def __init__(self, program: str = "direct", group_field: str = "system",
                 settings: BatchParseSettings | None = None) -> None:
        super().__init__()
        self.inner = program_kind(program)
        if self.inner is None:
            raise ConfigError(f"batch_parse runs one of the LLM programs, not {program!r}",
                              f"use --program batch_parse or batch_parse:<{'|'.join(PROGRAM_KINDS)}>")
        self.group_field = group_field
        self.fixed_settings = settings
        self._lines: dict[Any, list[str]] = {}
        self._parsed: dict[Any, dict[str, tuple[str, str]]] = {}
        self.stats: dict[Any, ParseStats] = {}
        self._locks: dict[Any, threading.Lock] = {}
        self._lock = threading.Lock()

    def prepare(self, logs: Iterable[str], groups: Iterable[Any] | None = None) -> None:
        """Every unlabelled line of the dataset, in order, with its group (system)."""
        logs = list(logs)
        groups = list(groups) if groups is not None else [None] * len(logs)
        with self._lock:
            for log, group in zip(logs, groups):
                line = _first_line(log)
                if line:
                    self._lines.setdefault(group, []).append(line)

    def _group_lock(self, group: Any) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(group, threading.Lock())

    def _settings(self, group: Any) -> BatchParseSettings:
        if self.fixed_settings is not None:
            return self.fixed_settings
        return BatchParseSettings.for_system(str(group) if group is not None else None)

    def _parse(self, group: Any, line: str) -> tuple[str, str, dict | None]:
        """(template, origin, what the parse did if this call parsed the group, else None)."""
        with self._group_lock(group):
            table = self._parsed.get(group)
            parsed = None
            if table is None or line not in table:
                # a group's lines at once (a line the runner did not show in prepare: with them, and parsed again)
                lines = self._lines.setdefault(group, [])
                if line not in lines:
                    lines.append(line)
                system = str(group) if group is not None else "default"
                parser = BatchParser(ProgramTemplater(None, program=self.inner), settings=self._settings(group))
                result = parser.parse(lines, system=system)
                table = {}
                for ln, template, origin in zip(lines, result.templates, result.origins):
                    table.setdefault(ln, (template, origin))
                self._parsed[group] = table
                self.stats[group] = result.stats
                parsed = {k: v for k, v in asdict(result.stats).items() if k != "cache_hits"}
            return (*table[line], parsed)

    def forward(self, log: str, question: str | None = None, labels: list[str] | None = None,
                meta: dict | None = None) -> dspy.Prediction:
        group = (meta or {}).get(self.group_field)
        line = _first_line(log)
        if not line:
            return dspy.Prediction(answer=None, format_error="the example has no log line to parse", raw=None)
        template, origin, parsed = self._parse(group, line)
        extra = {"parsed_group": parsed} if parsed is not None else {}
        return dspy.Prediction(answer=ParseAnswer(template=template), format_error=None, raw=None, origin=origin,
                               **extra)
