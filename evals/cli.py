"""``logreasoner eval``: run suites, compare runs, list datasets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

__all__ = ["app"]

app = typer.Typer(help="Evaluate programs x models x datasets on real public logs, and compare runs.",
                  no_args_is_help=True)


@app.command("run")
def run_cmd(
    suite: Optional[str] = typer.Option(None, "--suite", help="quick | dev | full"),
    dataset: list[str] = typer.Option([], "--dataset", "-d", help="dataset name (repeatable); see `eval datasets`"),
    program: list[str] = typer.Option([], "--program", "-p", help="coarse_to_fine, direct, cot, "
                                      "coarse_to_fine_noretrieval, drain3, keyword, level, majority, echo "
                                      "(repeatable; default: the suite's programs)"),
    model: list[str] = typer.Option([], "--model", "-m", help="model spec (repeatable); default: settings' model"),
    limit: Optional[int] = typer.Option(None, "--limit", min=0, help="examples per dataset"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run folder (default runs/eval-<time>)"),
    threads: int = typer.Option(8, "--threads", min=1, max=256, help="worker threads for remote models"),
    local_workers: Optional[int] = typer.Option(None, "--local-workers", min=1, max=16,
                                                help="in-process models (local, GGUF, HF folders): model copies "
                                                     "answering in parallel, the threads split between them "
                                                     "(default: 2 on a machine with 2+ cores, else 1)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out; finished examples are skipped"),
    split: Optional[str] = typer.Option(None, "--split", help="train | dev | test | all"),
    seed: int = typer.Option(0, "--seed"),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="bootstrap resamples (0: no intervals)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="do not use DSPy's cache"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    data: Optional[Path] = typer.Option(None, "--data", help="your own JSONL/CSV file"),
    task: Optional[str] = typer.Option(None, "--task", help="task of --data (anomaly, diagnosis, rca, parse, ...)"),
    input_field: str = typer.Option("log", "--input-field", help="column of --data holding the log text"),
    label_field: str = typer.Option("answer", "--label-field", help="column of --data holding the gold answer"),
    question_field: Optional[str] = typer.Option(None, "--question-field"),
    labels: Optional[str] = typer.Option(None, "--labels", help="comma-separated label set for --data"),
    labels_field: Optional[str] = typer.Option(None, "--labels-field",
                                               help="column of --data holding each row's own label set "
                                                    "(a list, or 'a|b|c'); instead of --labels"),
    id_field: Optional[str] = typer.Option(None, "--id-field"),
) -> None:
    """Run an eval (or resume one) and write results.json, samples.jsonl, report.md and plots."""
    from rich.console import Console

    from logreasoner.errors import InputError
    from logreasoner.evals.report import score_table
    from logreasoner.evals.runner import RunConfig, UserData, run_eval

    console = Console(stderr=True)
    selected = bool(suite or dataset or data)
    if data is not None and not task:
        raise InputError("--data needs --task", "e.g. --task diagnosis --input-field log --label-field answer")
    if resume and out is None:
        raise InputError("--resume needs --out", "pass the folder of the run to continue")
    out = out or Path("runs") / datetime.now().strftime("eval-%Y%m%d-%H%M%S")
    config = None
    if selected or not resume:
        user = None
        if data is not None:
            user = UserData(path=data, task=task, input_field=input_field, label_field=label_field,
                            question_field=question_field, id_field=id_field, labels_field=labels_field,
                            labels=[x.strip() for x in labels.split(",") if x.strip()] if labels else None)
        config = RunConfig(suite=suite, datasets=list(dataset), user_data=user,
                           programs=list(program), models=list(model), split=split,
                           limit=limit, seed=seed, threads=threads, bootstrap=bootstrap, cache=not no_cache,
                           **({"local_workers": local_workers} if local_workers else {}))
    import signal
    import threading

    def _stop(signum, frame):  # a `kill` ends the run like Ctrl-C: results.json is written, resume works
        raise KeyboardInterrupt

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _stop)
    try:
        results = run_eval(config, out, resume=resume, progress=progress)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: finished examples are saved in {out}/samples.jsonl; "
                      f"resume with: logreasoner eval run --resume --out {out}")
        raise typer.Exit(130)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    typer.echo(score_table((None, c) for c in results["cells"]))
    for n in results.get("notes", []):
        console.print(f"note: {n}")
    console.print(f"wrote {out}/results.json, samples.jsonl, report.md" +
                  (", plots" if results.get("plots") else ""))


@app.command("compile")
def compile_cmd(
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="a dataset name (see `eval datasets`)"),
    data: Optional[Path] = typer.Option(None, "--data", help="or your own JSONL/CSV file (with --task)"),
    task: Optional[str] = typer.Option(None, "--task", help="task of --data"),
    input_field: str = typer.Option("log", "--input-field"),
    label_field: str = typer.Option("answer", "--label-field"),
    labels: Optional[str] = typer.Option(None, "--labels", help="comma-separated label set for --data"),
    labels_field: Optional[str] = typer.Option(None, "--labels-field",
                                               help="column of --data holding each row's own label set"),
    program: str = typer.Option("coarse_to_fine", "--program", "-p",
                                help="coarse_to_fine, coarse_to_fine_noretrieval, direct or cot"),
    optimizer: str = typer.Option("bootstrap", "--optimizer", help="bootstrap | mipro | gepa"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="model spec (default: settings' model)"),
    limit: int = typer.Option(8, "--limit", min=1, help="training examples (balanced over the gold answers)"),
    split: str = typer.Option("train", "--split", help="split the examples come from (train: never scored by "
                              "`eval run`'s default test split)"),
    max_demos: int = typer.Option(2, "--max-demos", min=0, help="bootstrapped demos per predictor (bootstrap)"),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(..., "--out", "-o", help="where to save the compiled program (.json)"),
) -> None:
    """Compile a program with a DSPy optimizer on a dataset's train split and save it; run it with
    `logreasoner analyze --program OUT`, `logreasoner eval run --program OUT` or `mcp serve --compiled OUT`."""
    import json as _json

    from logreasoner.errors import InputError
    from logreasoner.evals.compile import balanced, compile_on_dataset
    from logreasoner.evals.resolve import load_model
    from logreasoner.settings import get_settings

    if bool(dataset) == bool(data):
        raise InputError("give exactly one of --dataset NAME or --data FILE", "e.g. --dataset bgl_templates_anomaly")
    if out.suffix != ".json":
        raise InputError(f"--out must end in .json (got {out.name})", "e.g. --out compiled.json")
    if dataset:
        from logreasoner.evals.datasets import get_dataset, load_dataset

        task_name = get_dataset(dataset).task
        examples = load_dataset(dataset, split=split, seed=seed)
    else:
        from logreasoner.evals.userdata import load_user_data

        if not task:
            raise InputError("--data needs --task", "e.g. --task diagnosis")
        task_name = task
        examples = load_user_data(data, task, input_field, label_field,
                                  labels=[x.strip() for x in labels.split(",")] if labels else None,
                                  split=split, seed=seed, labels_field=labels_field)
    kwargs = {"max_bootstrapped_demos": max_demos, "max_labeled_demos": max_demos} if optimizer == "bootstrap" else {}
    info = compile_on_dataset(balanced(examples, limit), task=task_name, program=program,
                              model=load_model(model or get_settings().model), optimizer=optimizer, out=out, **kwargs)
    typer.echo(_json.dumps(info, indent=1))


@app.command("report")
def report_cmd(
    runs: list[Path] = typer.Argument(..., help="run folders (or results.json files) to compare"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write the Markdown here too"),
) -> None:
    """Compare runs side by side in one table."""
    from logreasoner.evals.report import compare_runs

    text = compare_runs(list(runs))
    if out:
        out.write_text(text, encoding="utf-8")
    typer.echo(text)


@app.command("datasets")
def datasets_cmd() -> None:
    """List the datasets: task, licence, bundled or read from the shared folder."""
    from logreasoner.evals.datasets import list_datasets

    typer.echo("| dataset | task | bundled | licence | description |\n|---|---|---|---|---|")
    for s in list_datasets():
        typer.echo(f"| {s.name} | {s.task} | {'yes' if s.bundled else 'no (shared)'} | {s.licence} | "
                   f"{s.description} |")


@app.command("suites")
def suites_cmd() -> None:
    """List the suites."""
    from logreasoner.evals.suites import SUITES

    for s in SUITES.values():
        typer.echo(f"{s.name}: {s.description} (split {s.split}, limit {s.limit}): {', '.join(s.datasets)}; "
                   f"programs: {', '.join(s.programs)}")
