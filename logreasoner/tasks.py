"""The task registry: what each task takes, what it answers, how it is scored.

A task is a name, an instruction, a pydantic answer type with a *primary field* (the one compared with a gold
label), a per-example metric, the metric suite its eval cells report, how its gold labels are normalised,
optionally a label set, the id of an expert method flowchart and the programmatic expert that teaches it. Registering a task
(in code with :func:`register_task`, or from another package through the ``logreasoner.tasks`` entry point)
makes it available to ``analyze``, the evals, the finetune pipeline and the agent tools at once.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel

from logreasoner.errors import InputError, UnknownTaskError
from logreasoner.plugins import register_entry_points

__all__ = [
    "Task",
    "register_task",
    "get_task",
    "list_tasks",
    "exact_match",
    "label_match",
    "template_match",
    "rouge_l",
    "normalize_text",
    "normalize_template",
    "normalize_anomaly_label",
    "METRIC_SUITES",
]

Metric = Callable[[Any, Any], float]


def normalize_text(s: Any) -> str:
    return re.sub(r"\s+", " ", str(s or "")).strip().lower()


def exact_match(gold: Any, pred: Any) -> float:
    return float(normalize_text(gold) == normalize_text(pred))


def label_match(gold: Any, pred: Any) -> float:
    """Case/space-insensitive label equality."""
    return exact_match(gold, pred)


def normalize_template(t: Any) -> str | None:
    """Whitespace collapsed and runs of ``<*>`` merged (None stays None)."""
    if t is None:
        return None
    t = re.sub(r"(<\*>\s*)+", "<*> ", str(t)).strip()
    return re.sub(r"\s+", " ", t)


def template_match(gold: Any, pred: Any) -> float:
    """Message-level parsing accuracy for one line: templates equal after whitespace/<*> normalisation."""
    return float(normalize_template(gold or "") == normalize_template(pred or ""))


_ABNORMAL = {"abnormal", "anomaly", "anomalous", "1", "true", "yes", "error", "failure"}
_NORMAL = {"normal", "0", "false", "no", "-", "ok"}


def normalize_anomaly_label(value: Any, *, where: str = "") -> str:
    """A gold anomaly label as ``normal``/``abnormal`` (0/1, true/false, yes/no, ... accepted)."""
    v = str(value).strip().lower()
    if v in _ABNORMAL:
        return "abnormal"
    if v in _NORMAL:
        return "normal"
    raise InputError(
        f"anomaly label {value!r}{where} is not understood",
        "use normal/abnormal, 0/1, true/false or yes/no in the label column",
    )


# the metric suites an eval cell can report (computed by logreasoner.evals.scoring): suite -> (primary, all)
METRIC_SUITES: dict[str, tuple[str, tuple[str, ...]]] = {
    "binary": ("f1", ("f1", "precision", "recall", "accuracy")),  # F1 etc. of the task's positive label
    "labels": ("accuracy", ("accuracy", "macro_f1")),
    "templates": ("grouping_accuracy", ("grouping_accuracy", "parsing_accuracy", "edit_distance")),
    "rouge_l": ("rouge_l", ("rouge_l",)),
    "score": ("score", ("score",)),  # the mean of the task's per-example metric
}


def rouge_l(gold: Any, pred: Any) -> float:
    """ROUGE-L F1 from the ``rouge-score`` package (extra ``evals``)."""
    try:
        from rouge_score import rouge_scorer
    except ImportError as e:  # pragma: no cover - depends on extras
        raise ImportError("ROUGE-L needs the 'evals' extra: pip install 'logreasoner[evals]'") from e
    scorer = _ROUGE.get("s")
    if scorer is None:
        scorer = _ROUGE["s"] = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return float(scorer.score(str(gold or ""), str(pred or ""))["rougeL"].fmeasure)


_ROUGE: dict[str, Any] = {}


@dataclass(frozen=True)
class Task:
    """One reasoning task.

    Attributes:
        name: registry key, e.g. ``"anomaly"``.
        description: the instruction the programs give the model for this task.
        answer_type: pydantic model of the typed answer.
        primary_field: the answer field compared with a gold label.
        metric: ``metric(gold, predicted_primary_value) -> float`` in [0, 1].
        labels: default label set (tasks whose answer is one label of a set).
        needs_labels: the caller must give a label set (e.g. fault diagnosis).
        method_flowchart: id of the expert method flowchart in the thought store.
        aliases: other names accepted on the command line.
        input_kind: ``"lines"`` (an excerpt), or ``"line"`` (one log line).
        family_tags: thought-store tags of the plans that fit the task.
        suite: the metric suite its eval cells report (a key of :data:`METRIC_SUITES`).
        positive_label: the label the ``binary`` suite scores (e.g. ``"abnormal"``).
        label_normalizer: ``f(value, where=...) -> label`` for gold labels read from user data (raises
            :class:`~logreasoner.errors.InputError` on a value it does not understand); default: stripped text.
        expert: the programmatic expert that writes its training traces, as ``"module:Class"`` (imported when
            finetune asks for it) or a factory; None = the task is taught by an LM teacher.
    """

    name: str
    description: str
    answer_type: type[BaseModel]
    primary_field: str
    metric: Metric = exact_match
    labels: tuple[str, ...] | None = None
    needs_labels: bool = False
    method_flowchart: str | None = None
    aliases: tuple[str, ...] = ()
    input_kind: str = "lines"
    family_tags: tuple[str, ...] = field(default_factory=tuple)
    suite: str = "score"
    positive_label: str | None = None
    label_normalizer: Callable[..., str] | None = None
    expert: str | Callable[[], Any] | None = None

    def normalize_gold(self, value: Any, *, where: str = "") -> str:
        """A gold label as this task compares it (user data files: ``where`` names the record in errors)."""
        if self.label_normalizer is not None:
            return self.label_normalizer(value, where=where)
        return str(value).strip()

    def answer_model(self, labels: list[str] | tuple[str, ...] | None = None) -> type[BaseModel]:
        """The answer type, narrowed to ``labels`` when the task answers with one label of a set."""
        labels = labels or self.labels
        if labels and self.primary_field in self.answer_type.model_fields:
            from typing import Literal

            from pydantic import Field, create_model

            clean = tuple(dict.fromkeys(str(x).strip() for x in labels if str(x).strip()))
            if not clean:
                raise UnknownTaskError("the label set is empty", "pass at least one label, e.g. --labels 'a,b'")
            info = self.answer_type.model_fields[self.primary_field]
            return create_model(
                self.answer_type.__name__,
                __base__=self.answer_type,
                **{self.primary_field: (Literal[clean], Field(description=info.description or "one of the labels"))},
            )
        if self.needs_labels:
            raise UnknownTaskError(
                f"task '{self.name}' needs a label set",
                "pass the allowed labels, e.g. --labels 'port down,CPU Caterr' (or labels=[...] in Python)",
            )
        return self.answer_type

    def label_set(self, labels: list[str] | tuple[str, ...] | None = None) -> list[str]:
        """The labels an answer may take: ``labels``, else the task's own, else the values its answer type allows
        (the anomaly verdict's ``normal``/``abnormal``); [] for a free-text answer."""
        if labels or self.labels:
            return [str(x) for x in (labels or self.labels or ())]
        from typing import Literal, get_args, get_origin

        info = self.answer_type.model_fields.get(self.primary_field)
        if info is None or get_origin(info.annotation) is not Literal:
            return []
        return [str(x) for x in get_args(info.annotation)]

    def primary(self, answer: Any) -> Any:
        """The primary value of an answer (a model instance, a dict or already the value)."""
        if isinstance(answer, BaseModel):
            return getattr(answer, self.primary_field, None)
        if isinstance(answer, dict):
            return answer.get(self.primary_field)
        return answer

    def score(self, gold: Any, answer: Any) -> float:
        return float(self.metric(gold, self.primary(answer)))


_REGISTRY: dict[str, Task] = {}
_ALIASES: dict[str, str] = {}
_LOCK = threading.Lock()
_LOADED_ENTRY_POINTS = False


def register_task(task: Task, *, replace: bool = False) -> Task:
    """Add a task to the registry (all CLIs, evals, finetune and agent tools see it at once)."""
    if not re.fullmatch(r"[a-z][a-z0-9_\-]*", task.name):
        raise UnknownTaskError(f"bad task name {task.name!r}", "use lowercase letters, digits, '_' or '-'")
    if task.suite not in METRIC_SUITES:
        raise UnknownTaskError(f"task '{task.name}': unknown metric suite {task.suite!r}",
                               f"choose one of {sorted(METRIC_SUITES)}")
    if task.suite == "binary" and not task.positive_label:
        raise UnknownTaskError(f"task '{task.name}': the binary suite needs positive_label",
                               "set positive_label to the label whose precision/recall/F1 is scored")
    if task.primary_field not in task.answer_type.model_fields:
        raise UnknownTaskError(
            f"task '{task.name}': primary field {task.primary_field!r} is not a field of {task.answer_type.__name__}",
            f"choose one of {sorted(task.answer_type.model_fields)}",
        )
    with _LOCK:
        if task.name in _REGISTRY and not replace:
            raise UnknownTaskError(f"task '{task.name}' is already registered", "pass replace=True to override it")
        _REGISTRY[task.name] = task
        for a in task.aliases:
            _ALIASES[a] = task.name
    return task


def _load_entry_points() -> None:
    global _LOADED_ENTRY_POINTS
    if _LOADED_ENTRY_POINTS:
        return
    _LOADED_ENTRY_POINTS = True
    register_entry_points("logreasoner.tasks", Task, register_task, lambda name: name in _REGISTRY)


def get_task(name: str | Task) -> Task:
    """Look a task up by name or alias; unknown names raise with the list of known ones."""
    if isinstance(name, Task):
        return name
    _ensure_builtin()
    _load_entry_points()
    key = _ALIASES.get(name, name)
    try:
        return _REGISTRY[key]
    except KeyError:
        raise UnknownTaskError(
            f"unknown task {name!r}", f"choose one of: {', '.join(sorted(_REGISTRY))}"
        ) from None


def list_tasks() -> list[Task]:
    """Every registered task (the built-ins and those of installed plugins), by name."""
    _ensure_builtin()
    _load_entry_points()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


_BUILTIN_DONE = False


def _ensure_builtin() -> None:
    global _BUILTIN_DONE
    if _BUILTIN_DONE:
        return
    _BUILTIN_DONE = True
    from logreasoner.contracts.answers import (
        AnomalyAnswer,
        DiagnosisAnswer,
        InterpretAnswer,
        ParseAnswer,
        RCAAnswer,
    )

    builtin = [
        Task(
            name="anomaly",
            description=(
                "Decide whether the log excerpt shows abnormal system behaviour (errors, failures, hardware or "
                "kernel faults, crashes, security problems) or only normal operation. Cite the line numbers "
                "that show the anomaly."
            ),
            answer_type=AnomalyAnswer,
            primary_field="verdict",
            metric=exact_match,
            labels=None,
            method_flowchart="method-anomaly-detection",
            aliases=("anomaly_detection", "anomaly-detection", "ad"),
            suite="binary",
            positive_label="abnormal",
            label_normalizer=normalize_anomaly_label,
            expert="logreasoner.finetune.experts:AnomalyExpert",
        ),
        Task(
            name="diagnosis",
            description="Identify which fault type from the allowed label set the log entries show.",
            answer_type=DiagnosisAnswer,
            primary_field="label",
            metric=label_match,
            needs_labels=True,
            method_flowchart="method-fault-diagnosis",
            aliases=("fault_diagnosis", "fault-diagnosis", "fd"),
            suite="labels",
            expert="logreasoner.finetune.experts:DiagnosisExpert",
        ),
        Task(
            name="rca",
            description=(
                "Find the root cause of the problem the log shows and recommend remediation steps an engineer "
                "can carry out."
            ),
            answer_type=RCAAnswer,
            primary_field="cause",
            metric=rouge_l,
            method_flowchart="method-root-cause-analysis",
            aliases=("root_cause_analysis", "root-cause", "solution_recommendation"),
            suite="rouge_l",
            expert="logreasoner.finetune.experts_text:RCAExpert",
        ),
        Task(
            name="parse",
            description=(
                "Turn the log line into its template: keep the constant text, replace every variable part "
                "(numbers, ids, paths, addresses, names) with <*>."
            ),
            answer_type=ParseAnswer,
            primary_field="template",
            metric=template_match,
            method_flowchart="method-log-parsing",
            aliases=("log_parsing", "parsing"),
            input_kind="line",
            suite="templates",
            expert="logreasoner.finetune.experts_text:ParseExpert",
        ),
        Task(
            name="interpret",
            description="Explain what the log lines mean for an engineer: what happened, and whether it matters.",
            answer_type=InterpretAnswer,
            primary_field="explanation",
            metric=rouge_l,
            method_flowchart="method-log-interpretation",
            aliases=("log_interpretation", "interpretation", "explain"),
            suite="rouge_l",
            expert="logreasoner.finetune.experts_text:InterpretExpert",
        ),
    ]
    for t in builtin:
        if t.name not in _REGISTRY:
            register_task(t)
