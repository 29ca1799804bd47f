"""Every command of the CLI (sub-apps included) maps to a documented public Python callable that does its work
(logreasoner/cli/api_map.py), so whatever the CLI does can be done from Python."""

from __future__ import annotations

import inspect
import pkgutil
from typing import Any

import pytest
import typer

from logreasoner.cli.api_map import CLI_CONVENIENCES, COMMAND_API
from logreasoner.cli.main import app
from logreasoner.cli.plugins import extra_for


def _commands(command: Any, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Command path -> click command, walking groups (``typer.main.get_command`` gives click's tree)."""
    subs = getattr(command, "commands", None)
    if subs is None:
        return {" ".join(path): command}
    out: dict[str, Any] = {}
    for name, sub in subs.items():
        out.update(_commands(sub, (*path, name)))
    return out


COMMANDS = _commands(typer.main.get_command(app))


def _resolve(command: str) -> Any:
    try:
        return pkgutil.resolve_name(COMMAND_API[command])
    except ModuleNotFoundError as e:
        if extra_for(e) is None:
            raise
        pytest.skip(f"{COMMAND_API[command]} needs the [{extra_for(e)}] extra")


def _stand_in(command: str) -> bool:
    """A sub-app that failed to load is mounted as a stand-in that reports why (logreasoner.cli.plugins)."""
    return "_mount_failure" in COMMANDS[command].callback.__qualname__


def test_the_walk_reaches_the_mounted_sub_apps():
    assert {"analyze", "models pull", "eval run", "thoughts search", "scale scan", "finetune run"} <= set(COMMANDS)


def test_every_command_has_an_entry_and_every_entry_a_command():
    assert sorted(set(COMMANDS) - set(COMMAND_API)) == [], "add these commands to logreasoner/cli/api_map.py"
    assert sorted(set(COMMAND_API) - set(COMMANDS)) == [], "no such command: remove from logreasoner/cli/api_map.py"
    assert set(CLI_CONVENIENCES) <= set(COMMAND_API) and all(r.strip() for r in CLI_CONVENIENCES.values())


@pytest.mark.parametrize("command", sorted(COMMAND_API))
def test_each_entry_imports_is_callable_and_documented(command):
    target = _resolve(command)
    assert callable(target), f"{COMMAND_API[command]} is not callable"
    assert (target.__doc__ or "").strip(), f"{COMMAND_API[command]} (the API of `logreasoner {command}`) has no docstring"


@pytest.mark.parametrize("command", sorted(COMMAND_API))
def test_each_entry_is_what_the_command_calls(command):
    """An API entry is named in the command's code (or is the method a generated command runs); a CLI
    convenience is the command's own function, and only those name a function of a CLI module."""
    if _stand_in(command):
        pytest.skip(f"`logreasoner {command}` did not load here")
    path = COMMAND_API[command]
    callback = COMMANDS[command].callback
    in_cli = path.startswith("logreasoner.cli.") or ".cli." in path
    assert in_cli == (command in CLI_CONVENIENCES), f"{command}: a CLI function is only for a listed convenience"
    if in_cli:
        assert path == f"{callback.__module__}.{callback.__qualname__}"
        return
    name = path.rsplit(".", 1)[-1]
    assert name == callback.__name__ or f"{name}(" in inspect.getsource(callback), \
        f"`logreasoner {command}` ({callback.__module__}.{callback.__qualname__}) does not call {path}"
