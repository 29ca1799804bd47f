"""Program and model names on the command line -> objects the runner calls.

Programs: the LLM programs of ``logreasoner.programs.build_program`` (``coarse_to_fine``, ``direct``, ``cot``,
``coarse_to_fine_noretrieval``), the parser ``logreasoner parse`` runs (``batch_parse``, over ``direct``; ``batch_parse:cot``
over another program; :mod:`.batch_program`) and the baselines of :mod:`.baselines` (``drain3``, ``keyword``,
``level``). Baselines take an argument after a colon: ``level:FATAL`` (levels, comma-separated), ``keyword:<regex>``.
Models: any spec ``logreasoner.lm.load_lm`` accepts (``local``, ``openai/gpt-4o-mini``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from logreasoner.errors import ConfigError
from logreasoner.evals import baselines
from logreasoner.evals.batch_program import BATCH_PARSE, BatchParseProgram
from logreasoner.programs.compiled import compiled_task, is_compiled_path
from logreasoner.programs.kinds import PROGRAM_KINDS, program_kind
from logreasoner.programs.resolve import resolve_program

__all__ = ["LLM_PROGRAMS", "BASELINE_PROGRAMS", "ALL_PROGRAMS", "ProgramSpec", "parse_program", "load_model",
           "is_local_model"]

LLM_PROGRAMS = PROGRAM_KINDS + (BATCH_PARSE,)
BASELINE_PROGRAMS = tuple(baselines.BASELINES)
ALL_PROGRAMS = LLM_PROGRAMS + BASELINE_PROGRAMS


@dataclass(frozen=True)
class ProgramSpec:
    """A program as the runner sees it: a label, whether it needs a model, which tasks, how to build it."""

    label: str
    needs_lm: bool
    factory: Callable[[str], Any]
    tasks: tuple[str, ...] | None = None  # None: every task

    def supports(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks

    def build(self, task: str) -> Any:
        return self.factory(task)


def _resolver(name: str) -> Callable[[str], Any]:
    def build(task: str) -> Any:
        return resolve_program(name, task)

    return build


def parse_program(spec: str, custom: dict[str, Any] | None = None) -> ProgramSpec:
    """A program name (or ``baseline:arg``) -> :class:`ProgramSpec`; ``custom`` maps names to factories."""
    if custom and spec in custom:
        factory = custom[spec]
        return ProgramSpec(spec, bool(getattr(factory, "needs_lm", True)), factory,
                           tuple(getattr(factory, "tasks", ())) or None)
    if is_compiled_path(spec):  # a program compiled with a DSPy optimizer (programs.optimize)
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(f"compiled program not found: {path}", "check the path given to --program")
        task = compiled_task(path)
        return ProgramSpec(path.stem, True, _resolver(spec), (task,) if task else None)
    kind, _, arg = spec.partition(":")
    if program_kind(kind) is not None:
        if arg:
            raise ConfigError(f"program {kind!r} takes no argument (got {spec!r})", f"use --program {kind}")
        return ProgramSpec(spec, True, _resolver(kind))
    if kind == BATCH_PARSE:
        inner = BatchParseProgram(arg or "direct").inner  # a bad name fails here, before any run
        return ProgramSpec(spec, True, lambda task: BatchParseProgram(inner), BatchParseProgram.tasks)
    if kind in baselines.BASELINES:
        kw: dict[str, Any] = {}
        if arg and kind == "level":
            kw["levels"] = tuple(x.strip() for x in arg.split(",") if x.strip())
        elif arg and kind == "keyword":
            kw["pattern"] = arg
        elif arg:
            raise ConfigError(f"baseline {kind!r} takes no argument (got {spec!r})", f"use --program {kind}")
        cls = baselines.BASELINES[kind]
        return ProgramSpec(spec, False, lambda task, _k=kind, _kw=kw: baselines.build_baseline(_k, task, **_kw),
                           tuple(cls.tasks))
    known = list(ALL_PROGRAMS) + sorted(custom or {})
    raise ConfigError(f"unknown program {spec!r}", f"choose one of: {', '.join(known)}")


def load_model(spec: str) -> Any:
    """A ``dspy.LM`` for a model spec, through ``logreasoner.lm.load_lm``."""
    from logreasoner.lm import load_lm

    return load_lm(spec)


def is_local_model(spec: str | None) -> bool:
    """In-process models run one example at a time (their engine is not thread-safe):
    :func:`logreasoner.lm.spec.spec_is_serial`."""
    from logreasoner.lm.spec import spec_is_serial

    return spec_is_serial(spec)
