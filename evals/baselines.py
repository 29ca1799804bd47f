"""Non-LLM baselines that run in the eval runner with the programs' call contract.

``program(log=..., question=..., labels=...) -> dspy.Prediction(answer=..., format_error=None, raw=None)``.

- :class:`DrainParser` (log parsing): Drain3 with LogPAI's per-system masks, threshold and depth. Drain is
  unsupervised and, as in the Loghub benchmark, sees every line of a log before templates are read:
  the runner calls :meth:`DrainParser.prepare` with the dataset's unlabelled lines (all splits, no gold).
- :class:`KeywordDetector` (anomaly detection): abnormal iff a line matches an error keyword regex.
- :class:`LevelDetector` (anomaly detection): abnormal iff a line carries a FATAL/ERROR level.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Iterable, Sequence

import dspy

from logreasoner.errors import ConfigError
from logreasoner.logs.drain_settings import DrainSettings, make_template_miner, settings_for
from logreasoner.contracts.answers import AnomalyAnswer, DiagnosisAnswer, InterpretAnswer, ParseAnswer, RCAAnswer

__all__ = [
    "BASELINES",
    "build_baseline",
    "baseline_supports",
    "make_template_miner",
    "drain_parse",
    "DrainParser",
    "KeywordDetector",
    "LevelDetector",
    "MajorityBaseline",
    "EchoBaseline",
    "DEFAULT_KEYWORDS",
    "DEFAULT_LEVELS",
]

DEFAULT_KEYWORDS = r"(?i)(error|fail|fatal|exception|interrupt|panic)"
DEFAULT_LEVELS = ("FATAL", "ERROR")


def drain_parse(lines: Sequence[str], settings: DrainSettings | str | None = None) -> list[str]:
    """Parse a whole log the way the Loghub benchmark does: each line gets its cluster's final template."""
    if not isinstance(settings, DrainSettings):
        settings = settings_for(settings)
    miner = make_template_miner(settings)
    ids = [miner.add_log_message(line)["cluster_id"] for line in lines]
    templates = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
    return [templates[i] for i in ids]


def _numbered(log: str) -> list[tuple[int, str]]:
    return [(i, line) for i, line in enumerate(str(log or "").splitlines() or [""], 1)]


class _Baseline(dspy.Module):
    """Shared bits: the task it answers and the prediction shape."""

    tasks: tuple[str, ...] = ()
    accepts_meta = False

    def _pred(self, answer: Any) -> dspy.Prediction:
        return dspy.Prediction(answer=answer, format_error=None, raw=None)


class DrainParser(_Baseline):
    """Drain3 log parsing; per-group (per-system) miners with LogPAI's settings for that system."""

    tasks = ("parse",)
    accepts_meta = True

    def __init__(self, settings: DrainSettings | None = None, group_field: str = "system") -> None:
        super().__init__()
        self.fixed_settings = settings
        self.group_field = group_field
        self._miners: dict[Any, Any] = {}
        self._line_cluster: dict[tuple[Any, str], int] = {}
        self._lock = threading.Lock()

    def _miner(self, group: Any):
        m = self._miners.get(group)
        if m is None:
            m = self._miners[group] = make_template_miner(self.fixed_settings or settings_for(group))
        return m

    def prepare(self, logs: Iterable[str], groups: Iterable[Any] | None = None) -> None:
        """Feed every (unlabelled) line first, in order, as the Loghub benchmark does."""
        logs = list(logs)
        groups = list(groups) if groups is not None else [None] * len(logs)
        with self._lock:
            for line, group in zip(logs, groups):
                cid = self._miner(group).add_log_message(line)["cluster_id"]
                self._line_cluster[(group, line)] = cid

    def forward(self, log: str, question: str | None = None, labels: list[str] | None = None,
                meta: dict | None = None) -> dspy.Prediction:
        group = (meta or {}).get(self.group_field)
        line = str(log or "").splitlines()[0] if str(log or "").strip() else ""
        with self._lock:
            miner = self._miner(group)
            cid = self._line_cluster.get((group, line))
            if cid is None:  # a line not seen in prepare: mine it online
                cid = miner.add_log_message(line)["cluster_id"]
                self._line_cluster[(group, line)] = cid
            template = miner.drain.id_to_cluster[cid].get_template()
        return self._pred(ParseAnswer(template=template))


class KeywordDetector(_Baseline):
    """Abnormal iff any line matches the keyword regex; the matching lines are the evidence."""

    tasks = ("anomaly",)

    def __init__(self, pattern: str = DEFAULT_KEYWORDS) -> None:
        super().__init__()
        try:
            self.pattern = re.compile(pattern)
        except re.error as e:
            raise ConfigError(f"bad keyword regex {pattern!r}: {e}", "pass a valid Python regular expression") from None

    def forward(self, log: str, question: str | None = None, labels: list[str] | None = None) -> dspy.Prediction:
        hits = [i for i, line in _numbered(log) if self.pattern.search(line)]
        return self._pred(AnomalyAnswer(verdict="abnormal" if hits else "normal", evidence_lines=hits[:8]))


class LevelDetector(_Baseline):
    """Abnormal iff a line carries one of ``levels`` as a level field (``FATAL`` or ``[error]`` style)."""

    tasks = ("anomaly",)

    def __init__(self, levels: Sequence[str] = DEFAULT_LEVELS) -> None:
        super().__init__()
        if not levels:
            raise ConfigError("the level baseline needs at least one level", "e.g. levels=('FATAL', 'ERROR')")
        alt = "|".join(re.escape(x) for x in levels)
        # an upper-case word standing alone, or a bracketed level in any case: "FATAL", "[error]", "<ERROR>"
        self.pattern = re.compile(rf"(?<![\w-])(?:{alt.upper()})(?![\w-])|[\[<](?i:{alt})[\]>]")

    def forward(self, log: str, question: str | None = None, labels: list[str] | None = None) -> dspy.Prediction:
        hits = [i for i, line in _numbered(log) if self.pattern.search(line)]
        return self._pred(AnomalyAnswer(verdict="abnormal" if hits else "normal", evidence_lines=hits[:8]))


class MajorityBaseline(_Baseline):
    """The most frequent gold answer of the dataset's *train* split (within the example's label set)."""

    tasks = ("anomaly", "diagnosis")
    accepts_meta = True

    def __init__(self, task: str = "anomaly") -> None:
        super().__init__()
        self.task = task
        self._counts: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _majority(self, dataset: str | None, labels: list[str] | None) -> str:
        from collections import Counter

        with self._lock:
            if dataset not in self._counts:
                from logreasoner.evals.datasets import load_dataset

                try:
                    train = load_dataset(dataset, split="train") if dataset else []
                except Exception:  # a user file has no named train split: nothing to count
                    train = []
                self._counts[dataset] = Counter(str(e.answer) for e in train)
            counts = self._counts[dataset]
        allowed = [str(x) for x in labels] if labels else None
        for answer, _ in counts.most_common():
            if allowed is None or answer in allowed:
                return answer
        return allowed[0] if allowed else "normal"

    def forward(self, log: str, question: str | None = None, labels: list[str] | None = None,
                meta: dict | None = None) -> dspy.Prediction:
        answer = self._majority((meta or {}).get("dataset"), labels)
        if self.task == "anomaly":
            return self._pred(AnomalyAnswer(verdict=answer if answer in ("normal", "abnormal") else "normal"))
        return self._pred(DiagnosisAnswer(label=answer))


class EchoBaseline(_Baseline):
    """The log text itself as the answer (cause / explanation): the floor a generated text must clear."""

    tasks = ("rca", "interpret")

    def __init__(self, task: str = "rca") -> None:
        super().__init__()
        self.task = task

    def forward(self, log: str, question: str | None = None, labels: list[str] | None = None) -> dspy.Prediction:
        text = re.sub(r"\s+", " ", str(log or "")).strip()
        if self.task == "rca":
            return self._pred(RCAAnswer(cause=text[:400], remediation=[text[:200]] if text else []))
        return self._pred(InterpretAnswer(explanation=text[:600]))


BASELINES = {"drain3": DrainParser, "keyword": KeywordDetector, "level": LevelDetector,
             "majority": MajorityBaseline, "echo": EchoBaseline}


def baseline_supports(kind: str, task: str) -> bool:
    return task in BASELINES[kind].tasks


def build_baseline(kind: str, task: str, **kw: Any) -> _Baseline:
    """A baseline program by name; raises when it does not answer ``task``."""
    if kind not in BASELINES:
        raise ConfigError(f"unknown baseline {kind!r}", f"choose one of {', '.join(BASELINES)}")
    cls = BASELINES[kind]
    if task not in cls.tasks:
        raise ConfigError(f"baseline {kind!r} does not answer task {task!r}", f"it answers {', '.join(cls.tasks)}")
    if cls in (MajorityBaseline, EchoBaseline):
        kw.setdefault("task", task)
    return cls(**kw)
