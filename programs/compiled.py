"""Compiled programs on disk: the program's state (demos, instructions) in a ``.json`` file plus a ``.meta.json``
sidecar naming its kind and task, so the CLI (``--program compiled.json``), the evals and the agents can
rebuild and load it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dspy

from logreasoner.errors import ConfigError, InputError
from logreasoner.programs.kinds import build_program
from logreasoner.tasks import get_task

__all__ = ["save_program", "load_compiled", "compiled_task", "is_compiled_path", "COMPILED_SUFFIXES"]

COMPILED_SUFFIXES = (".json", ".pkl")


def is_compiled_path(name: str | Path) -> bool:
    """Whether a program name is a compiled program file (by its suffix)."""
    return str(name).endswith(COMPILED_SUFFIXES)


def _meta(path: Path) -> dict:
    meta_path = path.with_suffix(path.suffix + ".meta.json")
    if not meta_path.is_file():
        return {}
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {meta_path.name}: {e}",
                          "save the program again with save_program (it writes the sidecar)") from None
    return meta if isinstance(meta, dict) else {}


def compiled_task(path: str | Path) -> str | None:
    """The task a compiled program was compiled for (from its sidecar; None when it does not say or cannot be
    read)."""
    try:
        return _meta(Path(path)).get("task")
    except ConfigError:
        return None


def save_program(program: dspy.Module, path: str | Path, *, kind: str = "coarse_to_fine") -> Path:
    """Save the program's state and a sidecar with its kind and task."""
    path = Path(path)
    program.save(str(path))
    meta = {"kind": kind, "task": program.task.name, "format": "logreasoner-compiled-1"}
    path.with_suffix(path.suffix + ".meta.json").write_text(json.dumps(meta, indent=2))
    return path


def load_compiled(path: str | Path, task: str | None = None, **kwargs: Any) -> dspy.Module:
    """Rebuild a saved program from its sidecar (kind, task) and load its state."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"compiled program not found: {path}", "check the path given to --program")
    meta = _meta(path)
    kind = meta.get("kind", "coarse_to_fine")
    saved_task = meta.get("task")
    if task and saved_task and get_task(task).name != saved_task:
        raise ConfigError(f"{path.name} was compiled for task '{saved_task}', not '{task}'",
                          f"pass --task {saved_task} or compile a program for '{task}'")
    program = build_program(kind, task or saved_task or "anomaly", **kwargs)
    program.load(str(path))
    return program
