"""The other packages' commands on the main CLI: each sub-app is mounted when its module imports.

A sub-app whose module cannot be imported still appears under its name, so ``logreasoner --help`` lists it,
and running it exits with one line that says why:

- a missing optional extra (a third-party module that an extra of ``pyproject.toml`` installs, see
  :data:`MODULE_EXTRAS`): ``pip install 'logreasoner[<extra>]'``, exit 2;
- anything else (a bug, a broken install): the module and the error, exit 1 (``LOGREASONER_DEBUG=1`` re-raises
  the original error with its traceback).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
import typer

from logreasoner.errors import LogReasonerError

__all__ = ["SubApp", "SUB_APPS", "MODULE_EXTRAS", "MissingExtraError", "SubAppLoadError", "extra_for",
           "mount_sub_apps"]


@dataclass(frozen=True)
class SubApp:
    """A command of another package: ``attr`` of ``module``, a ``typer.Typer`` (a group) or a function (one
    command), mounted as ``name``."""

    name: str
    module: str
    attr: str = "app"
    help: str | None = None


SUB_APPS: tuple[SubApp, ...] = (
    SubApp("thoughts", "logreasoner.thoughts_db.cli", help="The thought store: expert flowcharts and plans."),
    SubApp("eval", "logreasoner.evals.cli", help="Eval suites: run programs x models x tasks, compare runs."),
    SubApp("finetune", "logreasoner.finetune.cli", help="Distil teacher traces into a local model: SFT then DPO."),
    SubApp("scale", "logreasoner.scale.cli",
           help="Large logs: stream, group, reason once per template; the answer cache."),
    SubApp("mcp", "logreasoner.agents.cli", "mcp_app", help="Serve the tools over MCP."),
    SubApp("investigate", "logreasoner.agents.cli", "investigate"),
)

# Third-party modules (top-level import names) that only an optional extra installs, and that extra.
MODULE_EXTRAS: dict[str, str] = {
    "llama_cpp": "local",
    "torch": "hf", "transformers": "hf", "peft": "hf", "gguf": "hf", "accelerate": "hf", "safetensors": "hf",
    "lmformatenforcer": "hf",
    "trl": "finetune", "datasets": "finetune",
    "sentence_transformers": "embed", "usearch": "embed",
    "tantivy": "search",
    "mcp": "mcp",
    "rouge_score": "evals",
    "matplotlib": "plots",
}


class MissingExtraError(LogReasonerError):
    """A command whose optional dependencies are not installed."""


class SubAppLoadError(LogReasonerError):
    """A sub-app whose module failed to import for another reason than a missing extra: a bug or a broken
    install."""

    exit_code = 1


def extra_for(error: BaseException) -> str | None:
    """The extra that installs the module ``error`` (a ModuleNotFoundError) misses, else None."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return None
    return MODULE_EXTRAS.get(error.name.split(".")[0])


def mount_sub_apps(app: typer.Typer, sub_apps: tuple[SubApp, ...] = SUB_APPS) -> None:
    """Mount each sub-app on ``app``; one that fails to load is mounted as a command that reports why."""
    for sub in sub_apps:
        try:
            target = getattr(importlib.import_module(sub.module), sub.attr)
        except Exception as e:  # noqa: BLE001 - every failure is reported by the stand-in command
            _mount_failure(app, sub, e)
            continue
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=sub.name, help=sub.help)
        else:
            app.command(sub.name, help=sub.help)(target)


def _mount_failure(app: typer.Typer, sub: SubApp, error: Exception) -> None:
    extra = extra_for(error)
    if extra is not None:
        summary = f"needs the optional extra [{extra}]: pip install 'logreasoner[{extra}]'"
    else:
        summary = f"failed to load: {type(error).__name__} in {sub.module}; run it for the error"

    def unavailable() -> None:
        if extra is not None:
            raise MissingExtraError(f"`logreasoner {sub.name}` needs the optional extra [{extra}] "
                                    f"({error.name} is not installed)", f"pip install 'logreasoner[{extra}]'") from error
        lines = str(error).strip().splitlines()
        raise SubAppLoadError(f"`logreasoner {sub.name}` could not be loaded: importing {sub.module} raised "
                              f"{type(error).__name__}: {lines[0][:300] if lines else '(no message)'}",
                              "a bug or a broken install: reinstall logreasoner, or set LOGREASONER_DEBUG=1 for "
                              "the traceback") from error

    text = f"(unavailable: {summary}) {sub.help or ''}".strip()
    if app.rich_markup_mode == "rich":  # else [mcp] is read as a style tag and vanishes
        from rich.markup import escape

        text = escape(text)
    app.command(sub.name, help=text, add_help_option=False,
                context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(unavailable)
