"""A program named anywhere (CLI, agents, evals, finetune, the batch parser) -> the program object.

:func:`resolve_program` is the one place names become programs: a built-in kind or its alias
(``coarse_to_fine``/``c2f``, ``direct``, ``cot``, ``coarse_to_fine_noretrieval``), a compiled program file
(``.json``/``.pkl`` with its ``.meta.json`` sidecar), a name the caller maps to a compiled file, or a module
passed as is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from logreasoner.contracts.retrieval import Retriever
from logreasoner.errors import ConfigError
from logreasoner.programs.compiled import is_compiled_path, load_compiled
from logreasoner.programs.kinds import PROGRAM_ALIASES, PROGRAM_KINDS, RETRIEVING_KINDS, build_program, program_kind

__all__ = ["resolve_program", "program_label"]


def resolve_program(program: Any, task: Any, *, retriever: Retriever | None = None,
                    compiled: Mapping[str, str | Path] | None = None, **kwargs: Any) -> Any:
    """The program ``program`` names, built for ``task``.

    Args:
        program: a kind or alias, a compiled program path, a key of ``compiled``, or a module (returned as is).
        task: a task name or :class:`~logreasoner.tasks.Task`.
        retriever: the expert-plan retriever of the kinds that retrieve (the installed default when None).
        compiled: names the caller offers for compiled program files (the MCP server's ``--compiled``).
        **kwargs: constructor arguments of the built-in kinds (e.g. ``k``, ``max_chars``).
    """
    if not isinstance(program, str):
        return program
    task_name = getattr(task, "name", task)
    if compiled and program in compiled:
        return load_compiled(compiled[program], task_name, **kwargs)
    if is_compiled_path(program):
        return load_compiled(program, task_name, **kwargs)
    kind = program_kind(program)
    if kind is None:
        known = [*PROGRAM_KINDS, *sorted(PROGRAM_ALIASES), *sorted(compiled or {})]
        raise ConfigError(f"unknown program {program!r}",
                          f"choose one of: {', '.join(known)}, or the path of a compiled program (.json)")
    if retriever is not None and kind in RETRIEVING_KINDS:
        kwargs["retriever"] = retriever
    return build_program(kind, task, **kwargs)


def program_label(program: Any) -> str:
    """How a program is named in results: its name or path as given, else its class name."""
    return program if isinstance(program, str) else type(program).__name__
