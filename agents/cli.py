"""Commands: ``logreasoner mcp serve`` and ``logreasoner investigate DIR QUESTION``.

``app`` holds both (``mcp`` is a sub-group); ``mcp_app`` and ``investigate`` are exported too, so the main CLI
can mount them at its top level.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

__all__ = ["app", "mcp_app", "serve", "investigate"]

app = typer.Typer(help="Reasoning as a tool: the MCP server and the log investigator.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
mcp_app = typer.Typer(help="Serve the LogReasoner tools over MCP (stdio or streamable HTTP).", no_args_is_help=True)
app.add_typer(mcp_app, name="mcp")


@mcp_app.command("serve")
def serve(
    http: bool = typer.Option(False, "--http", help="serve streamable HTTP instead of stdio"),
    host: str = typer.Option("127.0.0.1", "--host", help="HTTP address to bind (loopback by default)"),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="HTTP port"),
    path: str = typer.Option("/mcp", "--path", help="HTTP endpoint path"),
    root: Optional[list[Path]] = typer.Option(None, "--root", help="folder the tools may read (repeatable); "
                                              "without it only inline log text is accepted"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="model spec for the reasoning tools "
                                        "(default: LOGREASONER_MODEL or local)"),
    allow_model: Optional[list[str]] = typer.Option(None, "--allow-model", help="another model spec callers may "
                                                    "pick with the tools' 'model' argument (repeatable)"),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="allow a non-loopback --host (put your own "
                                      "authentication in front)"),
    max_bytes: int = typer.Option(8_000_000, "--max-bytes", min=1, help="bytes read per file or text"),
    max_lines: int = typer.Option(100_000, "--max-lines", min=1, help="lines read per file or text"),
    compiled: Optional[list[Path]] = typer.Option(None, "--compiled", help="a program compiled with a DSPy "
                                                  "optimizer (saved .json); callers pick it by its file stem in "
                                                  "analyze_logs' 'program' argument (repeatable)"),
    api_base: Optional[str] = typer.Option(None, "--api-base", help="base URL of an OpenAI-compatible server "
                                           "(vLLM, SGLang, llama.cpp) for --model openai/<name>"),
    token: Optional[str] = typer.Option(None, "--token", envvar="LOGREASONER_MCP_TOKEN", show_envvar=True,
                                        help="HTTP: require 'Authorization: Bearer TOKEN' on every request"),
    tool_timeout: float = typer.Option(300.0, "--tool-timeout", min=1.0, help="seconds one tool call may run "
                                       "before it is abandoned with an error"),
) -> None:
    """Serve analyze_logs, retrieve_expert_plan, explain_line and list_tasks over MCP."""
    from logreasoner.settings import get_settings

    from logreasoner.agents.mcp_server import CallLimits, build_server, serve_http
    from logreasoner.agents.sandbox import ReadLimits
    from logreasoner.agents.tools import LogTools

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)  # stdout belongs to the stdio transport
    spec = _model_spec(model, get_settings().model)
    tools = LogTools([str(r) for r in root or []], model=spec,
                     allowed_models=list(allow_model or []),
                     limits=ReadLimits(max_bytes=max_bytes, max_lines=max_lines),
                     compiled={p.stem: p for p in compiled or []}, lm_loader=_loader(api_base))
    roots = ", ".join(str(r) for r in tools.sandbox.roots) or "none (inline text only)"
    limits = CallLimits(timeout=tool_timeout)
    if http:
        typer.echo(f"LogReasoner MCP server on http://{host}:{port}{path} — folders: {roots}; model: {tools.model}"
                   + ("; bearer token required" if token else ""), err=True)
        serve_http(tools, host=host, port=port, path=path, allow_remote=allow_remote, token=token or None,
                   limits=limits)
    else:
        typer.echo(f"LogReasoner MCP server on stdio — folders: {roots}; model: {tools.model}", err=True)
        build_server(tools, limits=limits).run("stdio")


def _model_spec(given: Optional[str], default: str) -> str:
    """``--model`` as given (an empty one is an error, not the default), else the settings' model."""
    from logreasoner.errors import InputError

    if given is None:
        return default
    if not given.strip():
        raise InputError("--model is empty", "pass a model spec such as local or openai/gpt-4o-mini, or leave "
                         "--model out to use the default")
    return given


def _loader(api_base: Optional[str]):  # noqa: ANN202 - a spec -> dspy.LM function, or None (load_lm)
    if not api_base:
        return None

    def load(spec: str):  # noqa: ANN202
        from logreasoner.lm import load_lm

        return load_lm(spec, api_base=api_base)

    return load


@app.command("investigate")
def investigate(
    folder: Path = typer.Argument(..., help="folder of log files (the agent reads nothing outside it)"),
    question: str = typer.Argument(..., help="what you want to know, e.g. 'why did the job fail at 14:02?'"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="model spec (default: LOGREASONER_MODEL or "
                                        "local)"),
    max_steps: int = typer.Option(6, "--max-steps", min=1, max=50, help="tool calls at most"),
    timeout: float = typer.Option(180.0, "--timeout", min=1.0, help="wall-time budget in seconds"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
    api_base: Optional[str] = typer.Option(None, "--api-base", help="base URL of an OpenAI-compatible server"),
) -> None:
    """Investigate a folder of logs with a ReAct agent: cause, evidence (file:line, verified), next steps."""
    from logreasoner.settings import get_settings

    from logreasoner.agents.investigator import Investigator

    spec = _model_spec(model, get_settings().model)
    loader = _loader(api_base)
    inv = Investigator(folder, model=spec, lm=loader(spec) if loader else None, max_steps=max_steps,
                       timeout_s=timeout)
    result = inv.investigate(question)
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False))
        return
    _render(result)


def _render(result) -> None:  # noqa: ANN001 - InvestigationResult, imported lazily
    from rich.console import Console

    from logreasoner.cli.render import safe_markup as escape

    out = Console()
    out.print(f"[bold]Question:[/bold] {escape(result.question)}")
    out.print(f"[bold]Cause:[/bold] {escape(result.cause) if result.cause else '[dim](no answer reached)[/dim]'}")
    if result.evidence:
        out.print("[bold]Evidence:[/bold]")
        for e in result.evidence:
            mark = "" if e.seen else " [dim](not shown to the agent by a tool)[/dim]"
            out.print(f"  {escape(e.ref)}  {escape(e.text[:200])}{mark}")
    if result.invented_evidence:
        out.print(f"[yellow]{result.invented_evidence} cited line(s) did not exist and were dropped: "
                  f"{escape(', '.join(result.dropped_evidence[:5]))}[/yellow]")
    if result.next_steps:
        out.print("[bold]Next steps:[/bold]")
        for s in result.next_steps:
            out.print(f"  - {escape(s)}")
    note = f"; {result.format_error}" if result.format_error else ""
    out.print(f"[dim]{result.status}, answered by {result.answered_by}, {len(result.steps)} steps, "
              f"{result.lm_calls} model calls, {result.seconds:.1f}s of {result.timeout_s:.0f}s{escape(note)}[/dim]")


if __name__ == "__main__":  # pragma: no cover
    app()
