"""Program and model names on the command line -> objects the runner calls.

Programs: the LLM programs of ``logreasoner.programs.build_program`` (``coarse_to_fine``, ``direct``, ``cot``,
``coarse_to_fine_noretrieval``) and the baselines of :mod:`.baselines` (``drain3``, ``keyword``, ``level``).
Baselines take an argument after a colon: ``level:FATAL`` (levels, comma-separated), ``keyword:<regex>``.
Models: any spec ``logreasoner.lm.load_lm`` accepts (``local``, ``openai/gpt-4o-mini``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from logreasoner.errors import ConfigError
from logreasoner.evals import baselines

__all__ = ["LLM_PROGRAMS", "BASELINE_PROGRAMS", "ALL_PROGRAMS", "ProgramSpec", "parse_program", "load_model",
           "is_local_model"]

LLM_PROGRAMS = ("coarse_to_fine", "direct", "cot", "coarse_to_fine_noretrieval")
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


def _llm_factory(kind: str) -> Callable[[str], Any]:
    def build(task: str) -> Any:
        try:
            from logreasoner.programs import build_program
        except ImportError as e:
            raise ConfigError(
                f"program {kind!r} needs logreasoner.programs.build_program, which this install lacks ({e})",
                "update logreasoner, or run the baselines only: --program drain3 --program level --program keyword",
            ) from None
        return build_program(kind, task)

    return build


def parse_program(spec: str, custom: dict[str, Any] | None = None) -> ProgramSpec:
    """A program name (or ``baseline:arg``) -> :class:`ProgramSpec`; ``custom`` maps names to factories."""
    if custom and spec in custom:
        factory = custom[spec]
        return ProgramSpec(spec, bool(getattr(factory, "needs_lm", True)), factory,
                           tuple(getattr(factory, "tasks", ())) or None)
    if spec.endswith((".json", ".pkl")):  # a program compiled with a DSPy optimizer (programs.optimize)
        from pathlib import Path

        path = Path(spec)
        if not path.is_file():
            raise ConfigError(f"compiled program not found: {path}", "check the path given to --program")
        meta = path.with_suffix(path.suffix + ".meta.json")
        import json

        task = json.loads(meta.read_text()).get("task") if meta.is_file() else None

        def build_compiled(task_name: str, _path: Path = path) -> Any:
            from logreasoner.programs.optimize import load_compiled

            return load_compiled(_path, task_name)

        return ProgramSpec(path.stem, True, build_compiled, (task,) if task else None)
    kind, _, arg = spec.partition(":")
    if kind in LLM_PROGRAMS:
        if arg:
            raise ConfigError(f"program {kind!r} takes no argument (got {spec!r})", f"use --program {kind}")
        return ProgramSpec(spec, True, _llm_factory(kind))
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
    try:
        from logreasoner.lm import load_lm
    except ImportError as e:
        raise ConfigError(f"cannot load model {spec!r}: logreasoner.lm.load_lm is missing ({e})",
                          "update logreasoner, or run the baselines only") from None
    return load_lm(spec)


def is_local_model(spec: str | None) -> bool:
    """In-process models run one example at a time (their engine is not thread-safe)."""
    if not spec:
        return True
    try:
        from logreasoner.lm.spec import parse_spec

        return parse_spec(spec).kind != "remote"
    except ImportError:
        pass
    except Exception:  # an unknown spec: load_lm will say what is wrong
        return False
    s = spec.lower()
    return s == "local" or s.startswith(("local:", "local/", "hf:", "gguf:", "llamacpp")) or s.endswith(".gguf")
