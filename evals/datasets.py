"""Named eval datasets as ``dspy.Example`` lists with a fixed, seeded split.

Each example has the inputs ``log`` (raw log text; one line for line-level tasks), ``question`` (the source's
instruction, or None) and ``labels`` (the label set for diagnosis, else None), the gold ``answer`` (the value of
the task's primary field), ``task`` and ``meta`` (system, source id, split). ``load_dataset`` is the one entry
point; ``list_datasets`` says what exists, where it comes from, and under which licence.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from logreasoner.errors import InputError
from logreasoner.plugins import register_entry_points
from logreasoner.evals import sources
from logreasoner.evals.bundle import LOGHUB_SYSTEMS
from logreasoner.evals.paths import bundled_data_dir, shared_file
from logreasoner.evals.splits import assign_split, check_split, order_key
from logreasoner.tasks import get_task

__all__ = [
    "DatasetSpec",
    "register_dataset",
    "get_dataset",
    "list_datasets",
    "load_dataset",
    "load_records",
    "to_examples",
    "LOGHUB_RISK",
    "stratified_head",
]

LOGHUB_RISK = (
    "Loghub logs are widely published; base models have likely seen them (and perhaps their templates) in "
    "pre-training, so scores on them may overstate what a model does on unseen logs."
)


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset.

    Attributes:
        name: registry key.
        task: the task it measures (``logreasoner.tasks`` name).
        description: one line for listings.
        source: where the data comes from (citation / URL).
        licence: the data's licence.
        bundled: shipped inside the package (else read by path from the shared data folder).
        loader: returns the dataset's records (every split).
        answer_field: the answer field scored against the gold (None: the task's primary field).
        group_field: ``meta`` key that groups examples for grouping accuracy (e.g. ``system``).
        notes: caveats printed beside scores (e.g. pre-training contamination risk).
        cache: keep the loaded records in memory (False for user files, which may change between runs).
    """

    name: str
    task: str
    description: str
    source: str
    licence: str
    bundled: bool
    loader: Callable[[], list[sources.Record]] = field(repr=False, compare=False)
    answer_field: str | None = None
    group_field: str | None = None
    notes: tuple[str, ...] = ()
    cache: bool = True


_REGISTRY: dict[str, DatasetSpec] = {}
_LOCK = threading.Lock()


def register_dataset(spec: DatasetSpec, *, replace: bool = False, check_task: bool = True) -> DatasetSpec:
    """Add a dataset to the registry (the CLI and suites see it at once)."""
    if check_task:
        get_task(spec.task)  # unknown tasks fail here, with the list of known ones
    with _LOCK:
        if spec.name in _REGISTRY and not replace:
            raise InputError(f"dataset {spec.name!r} is already registered", "pass replace=True to override it")
        _REGISTRY[spec.name] = spec
    return spec


_PLUGINS_LOADED = False


def _load_plugins() -> None:
    """Register the datasets of installed packages (the ``logreasoner.datasets`` entry point group: a
    ``DatasetSpec``, a list, or a function returning them), once."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    register_entry_points("logreasoner.datasets", DatasetSpec, register_dataset, lambda name: name in _REGISTRY)


def get_dataset(name: str | DatasetSpec) -> DatasetSpec:
    """The registered dataset ``name`` (an unknown name raises with the known ones)."""
    if isinstance(name, DatasetSpec):
        return name
    _load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown dataset {name!r}", f"choose one of: {', '.join(sorted(_REGISTRY))}") from None


def list_datasets() -> list[DatasetSpec]:
    """Every registered eval dataset (bundled and registered by plugins), by name."""
    _load_plugins()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def load_records(name: str | DatasetSpec) -> list[sources.Record]:
    """Every record of a dataset, all splits, in source order."""
    spec = get_dataset(name)
    return list(_cached_records(spec) if spec.cache else _checked(spec))


@lru_cache(maxsize=64)
def _cached_records(spec: DatasetSpec) -> tuple[sources.Record, ...]:
    return _checked(spec)


def _checked(spec: DatasetSpec) -> tuple[sources.Record, ...]:
    records = spec.loader()
    seen: set[str] = set()
    for r in records:
        if r.id in seen:
            raise InputError(f"dataset {spec.name!r}: duplicate record id {r.id!r}", "record ids must be unique")
        seen.add(r.id)
    return tuple(records)


def stratified_head(items: list, limit: int, *, key: Callable[[Any], Any], max_strata: int = 64) -> list:
    """At most ``limit`` of ``items`` (already in a stable shuffled order), stratified by ``key`` (the gold
    answer): each answer keeps its share of the split (largest remainder, at least one per answer while room
    remains), its members in the given order. Free-text answers (more than ``max_strata`` distinct values) are
    not strata: the head of the order is taken. The result keeps the given order."""
    if limit >= len(items):
        return list(items)
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(str(key(it)), []).append(i)
    if len(groups) > max_strata or len(groups) <= 1:
        return list(items[:limit])
    n = len(items)
    quota = {g: limit * len(ix) / n for g, ix in groups.items()}
    take = {g: min(len(groups[g]), max(1, int(q))) for g, q in quota.items()}
    while sum(take.values()) > limit:  # more answers than room: drop the rarest's reserved place last
        g = max((g for g in take if take[g] > 0), key=lambda g: (take[g] - quota[g], -len(groups[g])))
        take[g] -= 1
    for g in sorted(quota, key=lambda g: quota[g] - int(quota[g]), reverse=True) * 2:
        if sum(take.values()) >= limit:
            break
        if take[g] < len(groups[g]):
            take[g] += 1
    keep = sorted(i for g, ix in groups.items() for i in ix[: take[g]])
    return [items[i] for i in keep]


def to_examples(records: list[sources.Record], *, dataset: str, task: str, split: str = "all", seed: int = 0,
                limit: int | None = None) -> list:
    """Records -> ``dspy.Example`` list of one split, in the split's stable order; with ``limit``, a sample of
    that size stratified by gold answer (:func:`stratified_head`)."""
    import dspy

    check_split(split)
    if limit is not None and limit < 0:
        raise InputError(f"limit must be >= 0, got {limit}", "pass a positive number or leave it out")
    chosen = []
    for r in records:
        s = r.split or assign_split(r.split_key if r.split_key is not None else r.log, seed)
        if split == "all" or s == split:
            chosen.append((order_key(r.id, seed), s, r))
    chosen.sort(key=lambda t: t[0])
    if limit is not None:
        chosen = stratified_head(chosen, limit, key=lambda t: t[2].answer)
    out = []
    for _, s, r in chosen:
        meta: dict[str, Any] = {**r.meta, "id": r.id, "dataset": dataset, "split": s}
        ex = dspy.Example(log=r.log, question=r.question, labels=list(r.labels) if r.labels else None,
                          answer=r.answer, task=task, meta=meta)
        out.append(ex.with_inputs("log", "question", "labels"))
    return out


def load_dataset(name: str, split: str = "test", seed: int = 0, limit: int | None = None) -> list:
    """Examples of a named dataset: ``split`` in train/dev/test/all (60/20/20 by a seeded hash)."""
    spec = get_dataset(name)
    return to_examples(load_records(spec), dataset=spec.name, task=spec.task, split=split, seed=seed, limit=limit)


# --------------------------------------------------------------------------- built-in datasets

def _bundled(*parts: str):
    return bundled_data_dir().joinpath(*parts)


_LOGHUB = ("Loghub (Zhu et al., ISSRE 2023), https://github.com/logpai/loghub; corrected templates from "
           "LogBatcher (MIT)")
_LOGHUB_LIC = "Loghub licence (research use, keep notice, cite)"
_LOGLM = "LogLM instruction data (Liu et al., ICSE-SEIP 2025), https://github.com/lunyiliu/LogLM"
_LOGINSTRUCT = ("LogInstruct (Huawei subset), https://github.com/LeaperOvO/LogInstruct-Review — "
                "bundled: 1,000 de-duplicated records per task")


def _builtin() -> list[DatasetSpec]:
    lh = _bundled("loghub-2k")
    loglm = _bundled("loglm", "instructions.jsonl.gz")
    li = _bundled("loginstruct")
    return [
        DatasetSpec("loghub_parse", "parse", "Loghub-2k, 12 systems, one line -> corrected template (24,000 lines)",
                    _LOGHUB, _LOGHUB_LIC, True, lambda: sources.loghub_parse_records(lh, LOGHUB_SYSTEMS),
                    group_field="system", notes=(LOGHUB_RISK,)),
        DatasetSpec("bgl_anomaly", "anomaly", "Loghub BGL_2k lines, normal / abnormal (143 alerts in 2,000)",
                    _LOGHUB, _LOGHUB_LIC, True, lambda: sources.bgl_line_records(lh), notes=(LOGHUB_RISK,)),
        DatasetSpec("loghub_window_anomaly", "anomaly",
                    "Loghub-2k windows of 6-30 lines: BGL (abnormal when a line has an alert label) and Thunderbird "
                    "(all normal in the 2k sample); each window's lines share its split",
                    _LOGHUB, _LOGHUB_LIC, True,
                    lambda: sources.window_records(lh, "BGL") + sources.window_records(lh, "Thunderbird"),
                    notes=(LOGHUB_RISK, "window splits follow the seed-0 line split of bgl_anomaly")),
        DatasetSpec("bgl_alert_diagnosis", "diagnosis", "Loghub BGL_2k alert lines -> alert category",
                    _LOGHUB, _LOGHUB_LIC, True, lambda: sources.bgl_alert_records(lh), notes=(LOGHUB_RISK,)),
        DatasetSpec("bgl_templates_anomaly", "anomaly", "LogPrompt BGL templates, normal / abnormal (shared, 1,766)",
                    "LogPrompt (Liu et al.), BGL templates", "none stated: read by path, never bundled", False,
                    lambda: sources.bgl_template_records(shared_file("logprompt/bgl_templates.jsonl")),
                    notes=(LOGHUB_RISK,)),
        DatasetSpec("logeval_diagnosis", "diagnosis", "LogEval fault diagnosis dev split (shared, 271)",
                    "LogEval benchmark, fault diagnosis (dev split)", "none stated: read by path, never bundled",
                    False, lambda: sources.logeval_records(shared_file("logeval/fault_diagnosis_dev.jsonl"))),
        DatasetSpec("loglm_rca", "rca", "LogLM root-cause analysis instructions (cause vs reference, ROUGE-L)",
                    _LOGLM, "Apache-2.0", True, lambda: sources.loglm_records(loglm, "root_cause_analysis")),
        DatasetSpec("loglm_solution", "rca", "LogLM solution recommendation (remediation vs reference, ROUGE-L)",
                    _LOGLM, "Apache-2.0", True, lambda: sources.loglm_records(loglm, "solution_recommendation"),
                    answer_field="remediation"),
        DatasetSpec("loglm_interpret", "interpret", "LogLM log interpretation instructions (ROUGE-L)",
                    _LOGLM, "Apache-2.0", True, lambda: sources.loglm_records(loglm, "log_interpretation")),
        DatasetSpec("loglm_anomaly", "anomaly", "LogLM anomaly detection instructions (normal / abnormal)",
                    _LOGLM, "Apache-2.0", True, lambda: sources.loglm_records(loglm, "anomaly_detection")),
        DatasetSpec("loglm_parse", "parse", "LogLM log parsing instructions (one group: no system field)",
                    _LOGLM, "Apache-2.0", True, lambda: sources.loglm_records(loglm, "log_parsing"),
                    notes=(LOGHUB_RISK,)),
        DatasetSpec("loginstruct_alarm_cause", "diagnosis", "LogInstruct Huawei alarms -> alarm type (6 classes)",
                    _LOGINSTRUCT, "MIT", True,
                    lambda: sources.loginstruct_records(li / "alarm_cause.jsonl.gz", "alarm_cause")),
        DatasetSpec("loginstruct_is_error", "anomaly", "LogInstruct Huawei log entries: is it an error (True -> abnormal)",
                    _LOGINSTRUCT, "MIT", True,
                    lambda: sources.loginstruct_records(li / "is_error.jsonl.gz", "is_error")),
        DatasetSpec("loginstruct_main_issue", "interpret", "LogInstruct Huawei log entries -> main issue (ROUGE-L)",
                    _LOGINSTRUCT, "MIT", True,
                    lambda: sources.loginstruct_records(li / "main_issue.jsonl.gz", "main_issue")),
    ]


for _spec in _builtin():
    register_dataset(_spec, check_task=False)  # built-in task names; checking them would import the programs
