"""Users' own labelled data (JSONL or CSV) as eval examples, through a column mapping.

``load_user_data("my.jsonl", task="diagnosis", input_field="log", label_field="answer")`` -> ``dspy.Example``
list, the same shape as the built-in datasets. Anomaly labels may be written as normal/abnormal, 0/1,
true/false, yes/no or ``-``. Diagnosis takes its label set from, in order:

- ``labels_field``: each row carries its own set (a JSON list, a JSON list written as text, or ``"a|b|c"``;
  without a ``|``, commas separate) — one file may then mix rows with different sets (LogEval's hardware and
  network faults); each row's answer is narrowed to, and scored against, its own set;
- ``labels``: one set for every row;
- else the distinct gold values of the file. A file whose gold values take one value only is refused then:
  the set would hold that one label, every answer would be forced to it and score 1.0.
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
from logreasoner.tasks import get_task, normalize_anomaly_label

__all__ = ["load_user_data", "user_records", "user_dataset_spec", "normalize_anomaly_label"]

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
    """A row's label set: a list, a JSON list as text, ``a|b|c`` or, without a ``|``, ``a,b,c``."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    if isinstance(value, (list, tuple)):
        items = [str(x).strip() for x in value]
    elif value is None:
        items = []
    else:
        text = str(value)
        items = [x.strip() for x in text.split("|" if "|" in text else ",")]
    return list(dict.fromkeys(x for x in items if x))


def _in_set(gold: str, label_set: list[str]) -> str | None:
    """``gold`` as spelt in ``label_set`` (exact, else ignoring case and surrounding space), or None."""
    if gold in label_set:
        return gold
    folded = {x.strip().casefold(): x for x in label_set}
    return folded.get(gold.strip().casefold())


def user_records(path: str | Path, task: str, input_field: str, label_field: str,
                 question_field: str | None = None, labels: list[str] | None = None,
                 id_field: str | None = None, labels_field: str | None = None) -> list[Record]:
    """Records from a JSONL/CSV file with the given column mapping; errors name the columns found and the rows
    whose label set is missing or lacks the gold."""
    path = Path(path).expanduser()
    t = get_task(task)
    if labels and labels_field:
        raise InputError("give --labels or --labels-field, not both",
                         "--labels is one set for every row; --labels-field names the column holding each row's set")
    rows = _read_rows(path)
    if not rows:
        raise InputError(f"{path} holds no records", "the file must have at least one labelled row")
    found = list(dict.fromkeys(k for r in rows[:50] for k in r))
    for role, col in (("input", input_field), ("label", label_field), ("question", question_field),
                      ("id", id_field), ("labels", labels_field)):
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
        gold = t.normalize_gold(gold, where=f" (record {i + 1})")
        q = r.get(question_field) if question_field else None
        rid = str(r.get(id_field)) if id_field else str(i)
        out.append(Record(id=f"{path.stem}:{rid}", log=str(log), answer=gold, question=str(q) if q else None,
                          meta={"source": str(path), "row": i + 1}))
    if labels_field:
        _row_label_sets(path, rows, out, labels_field, label_field, id_field)
    elif t.needs_labels or labels:
        golds = sorted({str(r.answer) for r in out})
        if not labels and len(golds) == 1:
            raise InputError(
                f"{path}: every gold {label_field!r} is {golds[0]!r}, and without --labels the label set is taken "
                "from the gold values: a set of one label forces every answer to it (a trivial score of 1.0)",
                "pass the full label set with --labels 'a,b,c' (or a column holding each row's set with "
                "--labels-field)")
        label_set = list(dict.fromkeys(labels)) if labels else golds
        for r in out:
            r.answer = _in_set(str(r.answer), label_set) or r.answer
        missing = sorted({str(r.answer) for r in out} - set(label_set))
        if missing:
            raise InputError(f"gold labels not in the label set: {', '.join(missing[:5])}",
                             "add them to --labels or leave --labels out to use the labels found in the data")
        for r in out:
            r.labels = list(label_set)
    return out


def _row_label_sets(path: Path, rows: list[dict[str, Any]], out: list[Record], labels_field: str,
                    label_field: str, id_field: str | None) -> None:
    """Each record takes its row's label set from ``labels_field``; the gold must be one of them."""
    for i, (row, rec) in enumerate(zip(rows, out)):
        where = f"{path}: record {i + 1}" + (f" ({id_field} {row.get(id_field)!r})" if id_field else "")
        if labels_field not in row:
            raise InputError(f"{where} has no {labels_field!r} field",
                             f"give every row its label set in {labels_field!r} (a list or 'a|b|c'), or pass one "
                             "set for all rows with --labels instead of --labels-field")
        label_set = _split_labels(row[labels_field])
        if not label_set:
            raise InputError(f"{where}: its label set {labels_field!r} is empty",
                             f"write the row's labels in {labels_field!r} as a list or 'a|b|c'")
        if len(label_set) == 1:
            raise InputError(f"{where}: its label set {labels_field!r} holds one label ({label_set[0]!r}), which "
                             "forces the answer (a trivial score of 1.0)",
                             f"write every label the row may take in {labels_field!r}, e.g. 'a|b|c'")
        gold = _in_set(str(rec.answer), label_set)
        if gold is None:
            raise InputError(
                f"{where}: its gold {label_field!r} {rec.answer!r} is not in its label set {label_set}",
                f"add the gold label to the row's {labels_field!r}, or fix the gold label")
        rec.answer, rec.labels = gold, label_set


def user_dataset_spec(path: str | Path, task: str, input_field: str, label_field: str,
                      question_field: str | None = None, labels: list[str] | None = None,
                      id_field: str | None = None, labels_field: str | None = None) -> DatasetSpec:
    """A :class:`DatasetSpec` for user data (not registered), named ``user:<file stem>``."""
    path = Path(path).expanduser()
    records = user_records(path, task, input_field, label_field, question_field, labels, id_field, labels_field)
    return DatasetSpec(name=f"user:{path.stem}", task=get_task(task).name, description=f"user data {path}",
                       source=str(path), licence="user's own", bundled=False, loader=lambda: list(records),
                       cache=False)


def load_user_data(path: str | Path, task: str, input_field: str, label_field: str,
                   question_field: str | None = None, labels: list[str] | None = None, *,
                   split: str = "all", seed: int = 0, limit: int | None = None,
                   id_field: str | None = None, labels_field: str | None = None) -> list:
    """``dspy.Example`` list from a user JSONL/CSV file (all rows unless a split is asked for)."""
    spec = user_dataset_spec(path, task, input_field, label_field, question_field, labels, id_field, labels_field)
    return to_examples(spec.loader(), dataset=spec.name, task=spec.task, split=split, seed=seed, limit=limit)
