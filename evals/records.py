"""One example's record: the line ``samples.jsonl`` holds for it, its key, and the value scored against the gold.

A record is a plain dict (JSON on disk); :func:`new_record` lays out every field an example's record carries
before the program runs, so a record that raised still has them all:

- ``key`` (:func:`sample_key`), ``program``, ``model`` (``-`` for programs without a model), ``dataset``,
  ``task``, ``id``, ``split``, ``meta``, ``input`` (log, question, labels), ``gold``, ``group``;
- what the program said: ``pred`` (the scored value as text, or None), ``answer``, ``format_error``, ``raw``,
  ``trace``, ``degenerate``, and ``score``;
- ``error`` (and ``traceback``) when the example raised;
- added when it finishes: ``latency_s``, ``usage`` (:mod:`logreasoner.evals.usage`), ``finished_at``.
"""

from __future__ import annotations

from typing import Any

from logreasoner.tasks import Task

__all__ = ["sample_key", "new_record", "answer_value"]


def sample_key(program: str, model: str | None, dataset: str, example_id: str) -> str:
    """The key of one example's record: ``program|model|dataset|id`` (``-`` for no model)."""
    return f"{program}|{model or '-'}|{dataset}|{example_id}"


def new_record(*, program: str, model: str | None, dataset: str, task: str, example: Any,
               group_field: str | None) -> dict[str, Any]:
    """An example's record before its program runs: every field, nothing answered yet, score 0."""
    meta = dict(example.meta)
    return {
        "key": sample_key(program, model, dataset, meta["id"]),
        "program": program,
        "model": model or "-",
        "dataset": dataset,
        "task": task,
        "id": meta["id"],
        "split": meta.get("split"),
        "meta": meta,
        "input": {"log": example["log"], "question": example["question"], "labels": example["labels"]},
        "gold": example["answer"],
        "group": meta.get(group_field) if group_field else None,
        "pred": None,
        "answer": None,
        "format_error": None,
        "raw": None,
        "trace": {},
        "score": 0.0,
        "error": None,
        "degenerate": [],
    }


def answer_value(task: Task, answer: Any, field_name: str | None = None) -> Any:
    """The value scored against the gold: ``field_name`` of the answer (else the task's primary field).

    A list field is joined with newlines; an empty view falls back to the primary field.
    """
    if answer is None:
        return None
    if isinstance(answer, str):
        return answer
    value = None
    if field_name:
        value = answer.get(field_name) if isinstance(answer, dict) else getattr(answer, field_name, None)
        if isinstance(value, (list, tuple)):
            value = "\n".join(str(v) for v in value if str(v).strip())
    if value in (None, ""):
        value = task.primary(answer)
    return value
