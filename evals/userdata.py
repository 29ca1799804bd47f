"""Users' own labelled data (JSONL or CSV) as eval examples, through a column mapping.

``load_user_data("my.jsonl", task="diagnosis", input_field="log", label_field="answer")`` -> ``dspy.Example``
list, the same shape as the built-in datasets. Anomaly labels may be written as normal/abnormal, 0/1,
true/false, yes/no or ``-``; diagnosis takes its label set from ``labels`` or, when absent, from the gold values.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from logreasoner.errors import InputError
from logreasoner.evals.datasets import DatasetSpec, to_examples
from logreasoner.evals.sources import Record, open_text
from logreasoner.tasks import get_task

__all__ = ["load_user_data", "user_records", "user_dataset_spec", "normalize_anomaly_label"]

_ABNORMAL = {"abnormal", "anomaly", "anomalous", "1", "true", "yes", "error", "failure"}
_NORMAL = {"normal", "0", "false", "no", "-", "ok"}


def normalize_anomaly_label(value: Any, *, where: str = "") -> str:
    v = str(value).strip().lower()
    if v in _ABNORMAL:
        return "abnormal"
    if v in _NORMAL:
        return "normal"
    raise InputError(
        f"anomaly label {value!r}{where} is not understood",
        "use normal/abnormal, 0/1, true/false or yes/no in the label column",
    )


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise InputError(f"data file not found: {path}", "pass the path of a JSONL or CSV file")
    name = path.name.lower().removesuffix(".gz")
    text = open_text(path)
    if name.endswith((".jsonl", ".ndjson", ".json")):
        stripped = text.lstrip()
        if name.endswith(".json") and stripped.startswith("["):
            rows = json.loads(stripped)
        else:
            rows = []
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise InputError(f"{path}:{n}: not JSON ({e.msg})", "write one JSON object per line") from None
        if any(not isinstance(r, dict) for r in rows):
            raise InputError(f"{path}: every record must be a JSON object", "write one JSON object per line")
        return rows
    if name.endswith((".csv", ".tsv")):
        return list(csv.DictReader(io.StringIO(text), delimiter="\t" if name.endswith(".tsv") else ","))
    raise InputError(f"{path}: unknown data format", "use .jsonl, .json, .csv or .tsv (optionally .gz)")


def _split_labels(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(x).strip() for x in value if str(x).strip()]
    return [x.strip() for x in str(value).split(",") if x.strip()]


def user_records(path: str | Path, task: str, input_field: str, label_field: str,
                 question_field: str | None = None, labels: list[str] | None = None,
                 id_field: str | None = None) -> list[Record]:
    """Records from a JSONL/CSV file with the given column mapping; errors name the columns found."""
    path = Path(path).expanduser()
    t = get_task(task)
    rows = _read_rows(path)
    if not rows:
        raise InputError(f"{path} holds no records", "the file must have at least one labelled row")
    found = list(dict.fromkeys(k for r in rows[:50] for k in r))
    for role, col in (("input", input_field), ("label", label_field), ("question", question_field),
                      ("id", id_field)):
        if col and col not in found:
            raise InputError(
                f"{path}: the {role} column {col!r} is missing",
                f"columns found: {', '.join(found) or '(none)'}; pass --{role}-field with one of them",
            )
    out = []
    for i, r in enumerate(rows):
        log, gold = r.get(input_field), r.get(label_field)
        if log is None or str(log).strip() == "" or gold is None or str(gold).strip() == "":
            raise InputError(f"{path}: record {i + 1} has an empty {input_field!r} or {label_field!r}",
                             "every record needs an input and a label")
        gold = normalize_anomaly_label(gold, where=f" (record {i + 1})") if t.name == "anomaly" else str(gold).strip()
        q = r.get(question_field) if question_field else None
        rid = str(r.get(id_field)) if id_field else str(i)
        out.append(Record(id=f"{path.stem}:{rid}", log=str(log), answer=gold, question=str(q) if q else None,
                          meta={"source": str(path), "row": i + 1}))
    if t.needs_labels or labels:
        label_set = list(dict.fromkeys(labels)) if labels else sorted({str(r.answer) for r in out})
        missing = sorted({str(r.answer) for r in out} - set(label_set))
        if missing:
            raise InputError(f"gold labels not in the label set: {', '.join(missing[:5])}",
                             "add them to --labels or leave --labels out to use the labels found in the data")
        for r in out:
            r.labels = list(label_set)
    return out


def user_dataset_spec(path: str | Path, task: str, input_field: str, label_field: str,
                      question_field: str | None = None, labels: list[str] | None = None,
                      id_field: str | None = None) -> DatasetSpec:
    """A :class:`DatasetSpec` for user data (not registered), named ``user:<file stem>``."""
    path = Path(path).expanduser()
    records = user_records(path, task, input_field, label_field, question_field, labels, id_field)
    return DatasetSpec(name=f"user:{path.stem}", task=get_task(task).name, description=f"user data {path}",
                       source=str(path), licence="user's own", bundled=False, loader=lambda: list(records),
                       cache=False)


def load_user_data(path: str | Path, task: str, input_field: str, label_field: str,
                   question_field: str | None = None, labels: list[str] | None = None, *,
                   split: str = "all", seed: int = 0, limit: int | None = None,
                   id_field: str | None = None) -> list:
    """``dspy.Example`` list from a user JSONL/CSV file (all rows unless a split is asked for)."""
    spec = user_dataset_spec(path, task, input_field, label_field, question_field, labels, id_field)
    return to_examples(spec.loader(), dataset=spec.name, task=spec.task, split=split, seed=seed, limit=limit)
