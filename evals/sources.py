"""Readers for the public log datasets: each returns plain :class:`Record` objects, nothing task-specific.

Every reader takes the folder to read from, so tests run them on small fixtures; :mod:`.datasets` wires them to
the bundled folder or the shared one. Files may be plain or gzip-compressed (``name`` or ``name.gz``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logreasoner.errors import InputError

__all__ = [
    "Record",
    "open_text",
    "read_loghub_system",
    "loghub_parse_records",
    "bgl_line_records",
    "bgl_alert_records",
    "bgl_template_records",
    "logeval_records",
    "loglm_records",
    "loginstruct_records",
    "labels_in_braces",
    "strip_fences",
    "LOGLM_TASKS",
    "window_records",
]

LOGLM_TASKS = ("log_parsing", "anomaly_detection", "root_cause_analysis", "solution_recommendation",
               "log_interpretation")


@dataclass
class Record:
    """One labelled example, before it becomes a ``dspy.Example``.

    ``split_key`` decides the split (records about the same log share it); ``split`` fixes it instead (a
    window of lines takes the split its lines have, so no line is in a training window and a test line at once);
    ``id`` is unique in its dataset.
    """

    id: str
    log: str
    answer: Any
    question: str | None = None
    labels: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    split_key: str | None = None
    split: str | None = None


def _resolve(path: Path) -> Path:
    path = Path(path)
    if path.is_file():
        return path
    gz = path.with_name(path.name + ".gz")
    if gz.is_file():
        return gz
    raise InputError(f"data file not found: {path} (nor {gz.name})", "rebuild the bundle or check the data folder")


def open_text(path: Path) -> str:
    """The whole text of ``path`` or ``path.gz`` (UTF-8, undecodable bytes replaced)."""
    p = _resolve(path)
    data = p.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def read_loghub_system(root: Path, system: str) -> list[dict[str, str]]:
    """Rows of ``<system>_2k.log_structured_corrected.csv`` with the raw line added as ``RawLine``."""
    folder = Path(root) / system
    rows = list(csv.DictReader(io.StringIO(open_text(folder / f"{system}_2k.log_structured_corrected.csv"))))
    for col in ("LineId", "Content", "EventTemplate"):
        if rows and col not in rows[0]:
            raise InputError(f"{system}: column {col!r} missing", f"columns found: {', '.join(rows[0])}")
    try:
        raw = open_text(folder / f"{system}_2k.log").splitlines()
    except InputError:
        raw = []
    for r in rows:
        i = int(r["LineId"]) - 1
        r["RawLine"] = raw[i] if 0 <= i < len(raw) else ""
    return rows


def loghub_parse_records(root: Path, systems: tuple[str, ...]) -> list[Record]:
    out = []
    for system in systems:
        for r in read_loghub_system(root, system):
            out.append(Record(
                id=f"{system}:{r['LineId']}", log=r["Content"], answer=r["EventTemplate"],
                meta={"system": system, "line_id": int(r["LineId"]), "source": "loghub-2k"},
                split_key=f"{system}\x00{r['Content']}",
            ))
    return out


def _bgl_line(r: dict[str, str]) -> str:
    """The raw BGL line without its first field (the label), so the input cannot leak the answer."""
    raw = r.get("RawLine") or ""
    if raw:
        return raw.split(" ", 1)[1] if " " in raw else raw
    cols = ("Timestamp", "Date", "Node", "Time", "NodeRepeat", "Type", "Component", "Level", "Content")
    return " ".join(r.get(c, "") for c in cols)


def bgl_line_records(root: Path) -> list[Record]:
    """BGL_2k lines: label '-' is normal, any alert category is abnormal."""
    out = []
    for r in read_loghub_system(root, "BGL"):
        label = r["Label"].strip()
        out.append(Record(
            id=f"BGL:{r['LineId']}", log=_bgl_line(r), answer="normal" if label == "-" else "abnormal",
            meta={"system": "BGL", "line_id": int(r["LineId"]), "alert": label, "level": r.get("Level"),
                  "source": "loghub-2k"},
        ))
    return out


def bgl_alert_records(root: Path) -> list[Record]:
    """BGL_2k alert lines with their alert category; the label set is every category in the file."""
    rows = [r for r in read_loghub_system(root, "BGL") if r["Label"].strip() != "-"]
    labels = sorted({r["Label"].strip() for r in rows})
    return [Record(
        id=f"BGL:{r['LineId']}", log=_bgl_line(r), answer=r["Label"].strip(), labels=list(labels),
        meta={"system": "BGL", "line_id": int(r["LineId"]), "source": "loghub-2k"},
    ) for r in rows]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(open_text(path).splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{n}: not JSON ({e.msg})", "each line must be one JSON object") from None
    return out


def bgl_template_records(path: Path) -> list[Record]:
    """LogPrompt's BGL templates, labelled normal/abnormal."""
    out = []
    for i, r in enumerate(_jsonl(path)):
        label = str(r["label"]).strip().lower()
        if label not in ("normal", "abnormal"):
            raise InputError(f"{path}: record {i} has label {label!r}", "expected 'normal' or 'abnormal'")
        out.append(Record(id=f"bgl_templates:{i}", log=r["template"], answer=label,
                          meta={"system": "BGL", "source": "logprompt"}))
    return out


_BRACES = re.compile(r"\{([^{}]*)\}")


def labels_in_braces(instruction: str) -> list[str]:
    """The label set written inside ``{...}`` in a LogEval instruction (comma-separated, de-duplicated)."""
    m = _BRACES.search(instruction or "")
    if not m:
        return []
    return list(dict.fromkeys(x.strip() for x in m.group(1).split(",") if x.strip()))


def logeval_records(path: Path) -> list[Record]:
    """LogEval fault diagnosis entries: one log entry, one fault type from the set named in the instruction."""
    out = []
    for i, r in enumerate(_jsonl(path)):
        labels = labels_in_braces(r["instruction"])
        if not labels:
            raise InputError(f"{path}: record {i} has no {{label set}} in its instruction", "LogEval format expected")
        out.append(Record(id=f"logeval:{i}", log=r["log"], answer=str(r["answer"]).strip(),
                          question=r["instruction"], labels=labels, meta={"source": "logeval"}))
    return out


_FENCE = re.compile(r"^\s*```[\w-]*\s*\n?|\n?\s*```\s*$")


def strip_fences(text: str) -> str:
    """Remove a Markdown code fence around a log excerpt."""
    return _FENCE.sub("", text or "").strip("\n")


def loglm_records(path: Path, task: str) -> list[Record]:
    """LogLM instruction records of one LogLM task (see :data:`LOGLM_TASKS`)."""
    if task not in LOGLM_TASKS:
        raise InputError(f"unknown LogLM task {task!r}", f"choose one of {', '.join(LOGLM_TASKS)}")
    out = []
    for i, r in enumerate(_jsonl(path)):
        if r.get("task") != task:
            continue
        answer = str(r["output"]).strip()
        if task == "anomaly_detection":
            answer = answer.lower()
        out.append(Record(id=f"loglm:{i}", log=strip_fences(r["input"]), answer=answer,
                          question=r.get("instruction") or None, meta={"source": "loglm", "loglm_task": task},
                          split_key=strip_fences(r["input"])))
    return out


def loginstruct_records(path: Path, kind: str) -> list[Record]:
    """A bundled LogInstruct subset: ``alarm_cause``, ``is_error`` (-> normal/abnormal) or ``main_issue``."""
    rows = _jsonl(path)
    labels = sorted({r["output"] for r in rows}) if kind == "alarm_cause" else None
    out = []
    for r in rows:
        answer: Any = r["output"]
        if kind == "is_error":
            v = str(answer).strip().lower()
            if v not in ("true", "false"):
                raise InputError(f"{path}: is-error output {answer!r}", "expected True or False")
            answer = "abnormal" if v == "true" else "normal"
        out.append(Record(id=f"loginstruct:{r['id']}", log=r["input"], answer=answer,
                          labels=list(labels) if labels else None,
                          meta={"source": "loginstruct", "file": r.get("source_file")}))
    return out


def _window_sizes(n: int, seed: str, low: int = 6, high: int = 30) -> list[int]:
    import random

    rng = random.Random(seed)
    sizes, total = [], 0
    while total < n:
        sizes.append(min(rng.randint(low, high), n - total))
        total += sizes[-1]
    return sizes


def window_records(root: Path, system: str, *, seed: int = 0, train_passes: int = 3) -> list[Record]:
    """Windows of consecutive lines of a Loghub-2k system, labelled abnormal when any line carries an alert
    label (BGL's first field; Thunderbird's is ``-`` on every line of the 2k sample, so its windows are normal).

    Each line takes the split its own text gets as a single-line record (``assign_split`` with ``seed``), and a
    window only joins lines of one split, in file order, so a window never shares a line with another split.
    ``meta.abnormal_lines`` holds the window's line numbers (from 1) of the labelled lines. The train split is
    cut ``train_passes`` times with different window sizes (overlapping windows: more training variety); dev
    and test once.
    """
    from logreasoner.evals.splits import assign_split

    rows = read_loghub_system(root, system)
    by_split: dict[str, list[tuple[int, str, bool]]] = {"train": [], "dev": [], "test": []}
    for r in rows:
        line = _bgl_line(r) if system == "BGL" else (r.get("RawLine") or "").split(" ", 1)[-1]
        if not line.strip():
            continue
        by_split[assign_split(line, seed)].append((int(r["LineId"]), line, r["Label"].strip() != "-"))
    out: list[Record] = []
    seen: set[str] = set()
    for split, lines in by_split.items():
        for p in range(train_passes if split == "train" else 1):
            i = 0
            for size in _window_sizes(len(lines), f"{system}\x00{split}\x00{seed}" + (f"\x00{p}" if p else "")):
                chunk = lines[i:i + size]
                i += size
                bad = [k for k, (_, _, abnormal) in enumerate(chunk, 1) if abnormal]
                wid = f"{system}:w{chunk[0][0]}-{chunk[-1][0]}"
                if wid in seen:
                    continue  # the same window cut twice
                seen.add(wid)
                out.append(Record(
                    id=wid, log="\n".join(t for _, t, _ in chunk),
                    answer="abnormal" if bad else "normal", split=split,
                    meta={"system": system, "source": "loghub-2k", "lines": len(chunk), "abnormal_lines": bad,
                          "first_line_id": chunk[0][0]},
                ))
    return out
