"""``logreasoner scan``: stream a large log, reason once per template (or session pattern), write every result.

Mount either the whole group (``app.add_typer(scale_cli.app, name="scale")``: ``logreasoner scale scan|cache``) or
the one command (``app.command("scan")(scale_cli.scan)``: ``logreasoner scan BIG.log``).
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from logreasoner.errors import ConfigError

__all__ = ["app", "scan", "cache"]

app = typer.Typer(help="Scale: stream large logs and reason once per distinct template or session pattern.",
                  no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Scale: stream large logs and reason once per distinct template or session pattern."""


def _labels(labels: Optional[list[str]]) -> Optional[list[str]]:
    out: list[str] = []
    for item in labels or []:
        out.extend(x.strip() for x in item.split(",") if x.strip())
    return out or None


@app.command("scan")
def scan(
    paths: list[str] = typer.Argument(..., help="log files, globs, folders, or '-' for stdin (.gz is fine)"),
    task: str = typer.Option("anomaly", "--task", "-t", help="anomaly | diagnosis | interpret (or any task)"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="model spec: local, a .gguf, provider/model"),
    program: str = typer.Option("coarse_to_fine", "--program", "-p",
                                help="coarse_to_fine | coarse_to_fine_noretrieval | direct | cot | a compiled .json"),
    labels: Optional[list[str]] = typer.Option(None, "--labels", "-l", help="label set (comma-separated or repeated)"),
    question: Optional[str] = typer.Option(None, "--question", "-q", help="what you want to know"),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="write JSONL results here ('-' = stdout)"),
    per: Optional[str] = typer.Option(None, "--per", help="rows: line | template | session (default: line, or "
                                                          "session with --sessions)"),
    only: Optional[str] = typer.Option(None, "--only", help="keep rows with this answer value, e.g. abnormal"),
    text: bool = typer.Option(False, "--text", help="include each line's text in per-line rows (re-reads files)"),
    sessions: Optional[str] = typer.Option(None, "--sessions", "-s", help="cut sessions: id | time | count"),
    id_regex: str = typer.Option(r"blk_-?\d+", "--id-regex", help="session id in a line (--sessions id)"),
    window_seconds: float = typer.Option(60.0, "--window-seconds", help="time window (--sessions time)"),
    window_lines: int = typer.Option(100, "--window-lines", help="lines per window (--sessions count)"),
    ts_regex: Optional[str] = typer.Option(None, "--ts-regex", help="your timestamp regex (named groups Y m d H M S)"),
    ts_format: Optional[str] = typer.Option(None, "--ts-format", help="strptime format for --ts-regex's match"),
    pattern: str = typer.Option("set", "--pattern", help="session pattern: set | sequence of templates"),
    idle_lines: Optional[int] = typer.Option(None, "--idle-lines", help="close an id session after N idle lines"),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-c", min=1, max=256,
                                              help="most requests in flight to a remote model (default: setting)"),
    cache_path: Optional[str] = typer.Option(None, "--cache", help="answer cache file (default: in the cache dir)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="do not read or write the answer cache"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="re-run templates whose cached answer failed"),
    api_base: Optional[str] = typer.Option(None, "--api-base", help="base URL of an OpenAI-compatible server"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Stream a large log, reason once per distinct template (or session pattern), map answers to every line."""
    from rich.console import Console

    from logreasoner.scale.config import get_scale_settings
    from logreasoner.scale.pipeline import scan_log
    from logreasoner.scale.sessions import SessionSpec
    from logreasoner.settings import get_settings

    err = Console(stderr=True)
    spec = None
    if sessions is not None:
        if sessions not in ("id", "time", "count"):
            raise ConfigError(f"unknown --sessions {sessions!r}", "choose id, time or count")
        if pattern not in ("set", "sequence"):
            raise ConfigError(f"unknown --pattern {pattern!r}", "choose set or sequence")
        try:
            spec = SessionSpec(by=sessions, id_regex=id_regex, seconds=window_seconds, size=window_lines,
                               ts_regex=ts_regex, ts_format=ts_format, pattern=pattern, idle_lines=idle_lines)
        except ValueError as e:
            raise ConfigError(f"bad session options: {str(e).splitlines()[-1].strip()}",
                              "check --id-regex, --ts-regex/--ts-format and the window sizes") from None
    if per is not None and per not in ("line", "template", "session"):
        raise ConfigError(f"unknown --per {per!r}", "choose line, template or session")
    settings = get_scale_settings()
    cache = None if no_cache else (cache_path or "default")

    def progress(stage: str, n: int, total: Optional[int]) -> None:
        if err.is_terminal:
            err.print(f"[dim]{stage}: {n:,}{'' if total is None else f' / {total:,}'}[/dim]", end="\r")

    target = sys.stdout if out == "-" else None
    report = scan_log(
        paths if len(paths) > 1 else paths[0], task=task, model=model or get_settings().model, program=program,
        labels=_labels(labels), question=question, sessions=spec, out=None if out in (None, "-") else out,
        per=per, only=only, with_text=text, cache=cache, concurrency=concurrency, retry_failed=retry_failed,
        settings=settings, progress=progress, lm_kwargs={"api_base": api_base} if api_base else None,
        stream_to=target,
    )
    if as_json:
        (err if target is not None else Console()).print_json(report.model_dump_json())
        return
    con = err if target is not None else Console()
    unit = "session patterns" if report.unit == "session" else "templates"
    con.print(f"[bold]{report.lines:,}[/bold] lines, {report.templates:,} templates"
              + (f", {report.sessions:,} sessions, {report.patterns:,} patterns" if report.unit == "session" else ""))
    con.print(f"model calls {report.model_calls:,} (cache hits {report.cache_hits:,}) for {unit}; per-line reasoning "
              f"would make {report.naive_calls:,}")
    con.print(f"{report.lines_per_second:,.0f} lines/s overall; mining {report.mining_seconds:.1f} s, reasoning "
              f"{report.reasoning_seconds:.1f} s; peak memory {report.peak_rss_mb:,.0f} MiB")
    con.print("answers: " + ", ".join(f"{k} {v:,}" for k, v in sorted(report.counts.items())))
    if report.errors:
        con.print(f"[red]{report.errors} calls raised[/red]: {report.error_samples[0]}")
    if report.skipped_sources:
        con.print(f"[yellow]skipped {len(report.skipped_sources)} unreadable file(s)[/yellow]: "
                  f"{report.skipped_sources[0]}")
    if report.out:
        con.print(f"results: {report.out}")


@app.command("cache")
def cache(
    path: Optional[str] = typer.Option(None, "--cache", help="answer cache file (default: in the cache dir)"),
    clear: bool = typer.Option(False, "--clear", help="delete every cached answer"),
) -> None:
    """Show (or clear) the answer cache: how many template answers it holds and how often they were reused."""
    from logreasoner.scale.cache import AnswerCache
    from logreasoner.scale.config import get_scale_settings

    c = AnswerCache(path or get_scale_settings().resolved_cache_path())
    try:
        if clear:
            typer.echo(f"deleted {c.clear()} cached answers from {c.path}")
            return
        s = c.stats()
        typer.echo(f"{s['path']}: {s['answers']} answers ({s['failed']} format failures), reused {s['hits']} times")
    finally:
        c.close()
