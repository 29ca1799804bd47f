"""``logreasoner parse FILE``: every line's template — grouped, one model call per group, checked, cached."""

from __future__ import annotations

import json
from collections import Counter
from typing import Optional

import typer

from logreasoner.errors import InputError

__all__ = ["parse_cmd"]


def parse_cmd(
    paths: list[str] = typer.Argument(..., help="log files, globs, folders, or '-' for stdin (.gz is fine)"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="model that writes one template per group "
                                        "(local, a .gguf, provider/model); left out: Drain3's templates only"),
    system: str = typer.Option("default", "--system", "-s", help="the system the log comes from: names the "
                               "template cache partition; a Loghub name (HDFS, BGL, ...) also picks LogPAI's "
                               "Drain settings"),
    program: str = typer.Option("direct", "--program", "-p", help="parse program: direct | cot | "
                                "coarse_to_fine | a compiled program .json"),
    cache: Optional[str] = typer.Option(None, "--cache", help="template cache file (default: in the cache dir)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="neither read nor write the template cache"),
    on_mismatch: str = typer.Option("fallback", "--on-mismatch", help="a model template that does not fit every "
                                    "line of its group: fallback (Drain's template) | split"),
    sample_lines: int = typer.Option(3, "--sample-lines", min=1, max=20, help="lines of a group shown per ask"),
    min_group_lines: int = typer.Option(1, "--min-group-lines", min=1, help="smaller groups take Drain's "
                                        "template without a model call"),
    lines_out: bool = typer.Option(False, "--lines", help="print one template per input line instead of the "
                                   "template counts"),
    api_base: Optional[str] = typer.Option(None, "--api-base", help="base URL of an OpenAI-compatible server"),
    as_json: bool = typer.Option(False, "--json", help="print templates, counts and run statistics as JSON"),
) -> None:
    """Parse a log into templates: Drain3 groups, the model answers once per group, every answer is checked
    against its group's lines (Drain's template otherwise), templates are cached per system across runs."""
    from dataclasses import asdict

    from logreasoner.logs.batch_parse import BatchParseSettings
    from logreasoner.parsing import parse_log

    if model is not None and not model.strip():
        raise InputError("--model is empty", "pass a model spec such as local, or leave --model out for Drain3's "
                         "templates")
    if on_mismatch not in ("fallback", "split"):
        raise InputError(f"--on-mismatch {on_mismatch!r} is not known", "choose fallback or split")
    settings = BatchParseSettings.for_system(system, on_mismatch=on_mismatch, sample_lines=sample_lines,
                                            min_group_lines=min_group_lines)
    result = parse_log(paths if len(paths) > 1 else paths[0], model=model, system=system, program=program,
                       cache=None if no_cache else (cache or True), settings=settings,
                       lm_kwargs={"api_base": api_base} if api_base else None)
    counts = Counter(result.templates)
    origin = dict(zip(result.templates, result.origins))
    stats = {**asdict(result.stats), "lines_per_second": round(result.stats.lines_per_second, 1)}
    if as_json:
        rows = [{"template": t, "count": n, "origin": origin[t]} for t, n in counts.most_common()]
        payload = {"stats": stats, "templates": rows}
        if lines_out:
            payload["lines"] = result.templates
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    from logreasoner.cli.render import terminal_safe

    if lines_out:
        for t in result.templates:
            typer.echo(terminal_safe(t, keep_newlines=False))
    else:
        for t, n in counts.most_common():
            typer.echo(f"{n:>7}  {origin[t]:<5}  {terminal_safe(t, keep_newlines=False)}")
    s = result.stats
    typer.echo(f"{s.lines} lines, {len(counts)} templates in {s.seconds:.2f} s ({s.lines_per_second:,.0f} lines/s); "
               f"cache hits {s.cache_hits}, groups {s.groups}, model calls {s.model_calls}, "
               f"rejected {s.rejected}, Drain fallback lines {s.fallback_lines}", err=True)
