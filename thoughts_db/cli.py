"""``logreasoner thoughts ...``: import, list, show, search, export and count the expert flowcharts.

Every command works on ``--db PATH`` (default ``<cache_dir>/thoughts.db`` with the shipped library loaded).
Errors are :class:`logreasoner.errors.LogReasonerError` subclasses; the main CLI prints them as one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from logreasoner.errors import InputError

__all__ = ["app"]

app = typer.Typer(help="The thought store: expert flowcharts and the thought templates drawn from them.",
                  no_args_is_help=True)


def _store(ctx: typer.Context):
    from logreasoner.thoughts_db.store import ThoughtStore

    obj = ctx.ensure_object(dict)
    if obj.get("store") is None:
        db = obj.get("db")
        emb = False if obj.get("lexical") else None
        obj["store"] = ThoughtStore(db, embeddings=emb) if db else ThoughtStore.default(embeddings=emb)
        ctx.call_on_close(obj["store"].close)
    return obj["store"]


@app.callback()
def main(
    ctx: typer.Context,
    db: Optional[Path] = typer.Option(None, "--db", help="thought store file (default: <cache_dir>/thoughts.db)"),
    lexical: bool = typer.Option(False, "--lexical", help="do not load the embedding model (BM25 only)"),
) -> None:
    ctx.ensure_object(dict)
    ctx.obj["db"] = db
    ctx.obj["lexical"] = lexical


@app.command("import")
def import_(
    ctx: typer.Context,
    files: List[str] = typer.Argument(..., help="Mermaid (.mmd) or JSON flowchart files, folders or globs"),
    replace: bool = typer.Option(True, "--replace/--no-replace", help="overwrite charts with the same id"),
    lenient: bool = typer.Option(False, "--lenient", help="skip invalid charts instead of stopping"),
) -> None:
    """Import flowcharts in one transaction (all or nothing)."""
    res = _store(ctx).import_flowcharts(files, replace=replace, strict=not lenient)
    for w in res.warnings:
        typer.echo(f"warning: {w}", err=True)
    for s in res.skipped:
        typer.echo(f"skipped: {s}", err=True)
    msg = f"imported {len(res.flowcharts)} flowchart(s), {res.templates} template(s)"
    typer.echo(msg + (f"; {len(res.unchanged)} unchanged" if res.unchanged else ""))


@app.command("list")
def list_(
    ctx: typer.Context,
    task: Optional[str] = typer.Option(None, "--task", "-t", help="only charts for this task"),
    system: Optional[str] = typer.Option(None, "--system", "-s", help="only charts for this system"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List the stored flowcharts."""
    rows = _store(ctx).list_flowcharts(task=task, system=system)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no flowcharts")
        return
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        typer.echo(f"{r['id']:<{width}}  {r['templates']:>3} tpl  {','.join(r['tasks']) or '-':<22} "
                   f"{','.join(r['systems']) or '-':<18} {r['title']}")
    typer.echo(f"{len(rows)} flowchart(s)")


@app.command("show")
def show(
    ctx: typer.Context,
    chart_id: str = typer.Argument(..., metavar="ID", help="flowchart id (or template id with --template)"),
    fmt: str = typer.Option("all", "--format", "-f", help="tree | mermaid | json | templates | all"),
    template: bool = typer.Option(False, "--template", help="ID is a template id: show that template"),
) -> None:
    """Show a flowchart: the graph as a text tree, its Mermaid source and its templates."""
    from logreasoner.thoughts_db.jsonio import to_json
    from logreasoner.thoughts_db.mermaid import to_mermaid
    from logreasoner.thoughts_db.render import render_tree

    store = _store(ctx)
    if template:
        t = store.get_template(chart_id)
        typer.echo(t.render())
        typer.echo("provenance: " + "; ".join(f"step {p.step + 1} <- {p.flowchart_id}:{','.join(p.node_ids)}"
                                              for p in t.provenance))
        return
    if fmt not in ("tree", "mermaid", "json", "templates", "all"):
        raise InputError(f"unknown format {fmt!r}", "use tree, mermaid, json, templates or all")
    fc = store.get_flowchart(chart_id)
    if fmt in ("tree", "all"):
        typer.echo(f"# {fc.title} [{', '.join(fc.meta.tasks)}] ({', '.join(fc.meta.systems)})")
        typer.echo(render_tree(fc))
    if fmt in ("mermaid", "all"):
        if fmt == "all":
            typer.echo("\n```mermaid")
        typer.echo(to_mermaid(fc).rstrip("\n"))
        if fmt == "all":
            typer.echo("```")
    if fmt == "json":
        typer.echo(to_json(fc).rstrip("\n"))
    if fmt in ("templates", "all"):
        for t in store.templates(flowchart_id=chart_id):
            typer.echo(f"\n{t.id}\n{t.render()}")


@app.command("search")
def search(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="words or a log excerpt ('-' reads stdin)"),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="task the plans are for"),
    k: int = typer.Option(3, "-k", min=1, max=50, help="how many plans"),
    no_diversity: bool = typer.Option(False, "--no-diversity", help="plain ranking, no DPP selection"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Retrieve the expert plans a program would get for this query."""
    if query == "-":
        import sys

        query = sys.stdin.read()
    store = _store(ctx)
    plans = store.retrieve(query, task=task, k=k, theta=None if no_diversity else 0.7, record_usage=False)
    if as_json:
        typer.echo(json.dumps([p.model_dump() for p in plans], indent=2))
        return
    if not plans:
        typer.echo("no matching plan")
        return
    for p in plans:
        typer.echo(f"{p.score:.3f}  {p.id}\n{p.render()}\n")


@app.command("export")
def export(
    ctx: typer.Context,
    fmt: str = typer.Option("mermaid", "--format", "-f", help="mermaid | json"),
    out: Path = typer.Option(Path("thoughts-export"), "--out", "-o", help="folder to write into"),
    ids: Optional[List[str]] = typer.Option(None, "--id", help="only these charts (repeatable)"),
) -> None:
    """Write the stored flowcharts as files (one per chart)."""
    paths = _store(ctx).export(out, fmt=fmt, ids=ids or None)
    typer.echo(f"wrote {len(paths)} file(s) to {out}")


@app.command("stats")
def stats(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Counts: flowcharts, nodes, edges, templates per task and origin, embeddings, usage."""
    s = _store(ctx).stats()
    if as_json:
        typer.echo(json.dumps(s, indent=2))
        return
    for key, value in s.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        typer.echo(f"{key:<20} {value}")
