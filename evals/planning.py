"""Planning a run: one :class:`Cell` per (program, model, dataset), before anything is written or paid for.

Bad names (a dataset, a program, a task) fail here, so a run folder is only created for a run that can start.
A program that does not answer a dataset's task is skipped with a reason; a program without a model gets one
cell per dataset (model None), an LLM program one per model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from logreasoner.errors import InputError
from logreasoner.evals.config import RunConfig
from logreasoner.evals.datasets import DatasetSpec, get_dataset, load_records, to_examples
from logreasoner.evals.paths import shared_data_dir
from logreasoner.evals.records import sample_key
from logreasoner.evals.resolve import ProgramSpec, parse_program
from logreasoner.evals.suites import get_suite
from logreasoner.tasks import Task, get_task

__all__ = ["Cell", "plan_datasets", "plan_cells"]


@dataclass
class Cell:
    """One program on one model (None: the program needs none) over one dataset's examples."""

    program: ProgramSpec
    model: str | None
    dataset: DatasetSpec
    task: Task
    examples: list
    split: str
    results_key: str = ""
    wall_s: float = 0.0
    ran: int = 0

    @property
    def model_label(self) -> str:
        return self.model or "-"

    def key(self, example_id: str) -> str:
        """The :func:`~logreasoner.evals.records.sample_key` of one of this cell's examples."""
        return sample_key(self.program.label, self.model, self.dataset.name, example_id)


def plan_datasets(config: RunConfig) -> tuple[list[tuple[DatasetSpec, str, int | None]], list[str]]:
    """The datasets to run, each once, with its split and limit (user data, then the suite's, then named ones),
    and notes on the suite's datasets skipped because the shared data folder is missing."""
    notes: list[str] = []
    plan: list[tuple[DatasetSpec, str, int | None]] = []
    if config.user_data is not None:
        from logreasoner.evals.userdata import user_dataset_spec

        u = config.user_data
        spec = user_dataset_spec(u.path, u.task, u.input_field, u.label_field, u.question_field, u.labels, u.id_field,
                                 u.labels_field)
        plan.append((spec, config.split or "all", config.limit))
    if config.suite:
        suite = get_suite(config.suite)
        have_shared = shared_data_dir(required=False) is not None
        for name in suite.datasets:
            spec = get_dataset(name)
            if not spec.bundled and not have_shared:
                notes.append(f"suite {suite.name}: skipped {name} (needs the shared data folder, not found)")
                continue
            plan.append((spec, config.split or suite.split,
                         config.limit if config.limit is not None else suite.limit))
    for name in config.datasets:
        plan.append((get_dataset(name), config.split or "test", config.limit))
    if not plan:
        raise InputError("nothing to run", "pass --suite quick, --dataset NAME or --data FILE --task TASK")
    seen: set[str] = set()
    unique = []
    for item in plan:
        if item[0].name not in seen:
            seen.add(item[0].name)
            unique.append(item)
    return unique, notes


def plan_cells(config: RunConfig, custom: dict[str, Any] | None, default_model: str
               ) -> tuple[list[Cell], list[dict[str, str]], list[str]]:
    """The cells to run, the (program, dataset) pairs skipped with their reason, and notes.

    ``custom``: extra program factories by name (see :func:`logreasoner.evals.runner.run_eval`);
    ``default_model``: the model of LLM programs when the config names none.
    """
    datasets, notes = plan_datasets(config)
    programs = [parse_program(p, custom) for p in config.programs]
    models = list(dict.fromkeys(config.models or [default_model]))
    cells: list[Cell] = []
    skipped: list[dict[str, str]] = []
    examples_cache: dict[str, list] = {}
    for spec, split, limit in datasets:
        task = get_task(spec.task)
        if spec.name not in examples_cache:
            examples_cache[spec.name] = to_examples(load_records(spec), dataset=spec.name, task=task.name,
                                                    split=split, seed=config.seed, limit=limit)
        exs = examples_cache[spec.name]
        if not exs:
            notes.append(f"{spec.name}: the {split} split is empty")
        for prog in programs:
            if not prog.supports(task.name):
                skipped.append({"program": prog.label, "dataset": spec.name,
                                "reason": f"{prog.label} does not answer task {task.name}"})
                continue
            for model in (models if prog.needs_lm else [None]):
                cells.append(Cell(prog, model, spec, task, exs, split))
    return cells, skipped, notes
