"""Named suites: which datasets, which split, how many examples each, which programs.

- ``quick``: one bundled dataset per task, 20 test examples each drawn stratified by gold answer (seeded,
  stable across runs), programs direct / cot / coarse_to_fine and the trivial baselines that answer each task
  (drain3, keyword, level, majority, echo). The smoke run of a model on a laptop.
- ``dev``: every dataset on the dev split, at most 200 stratified examples each, every LLM program, the parser
  ``logreasoner parse`` runs (``batch_parse``, on the parse datasets) and the baselines (for iterating on programs
  without touching the test split).
- ``full``: every dataset, the whole test split, the programs of ``dev``.

A suite's programs apply when the run names none (``--program`` replaces them). Datasets read from the shared
folder (not bundled) are included only when that folder is present; a suite notes the ones it left out instead
of failing.
"""

from __future__ import annotations

from dataclasses import dataclass

from logreasoner.errors import InputError

__all__ = ["Suite", "SUITES", "get_suite", "BASELINES"]


@dataclass(frozen=True)
class Suite:
    name: str
    datasets: tuple[str, ...]
    split: str
    limit: int | None
    description: str
    programs: tuple[str, ...] = ()


_ALL = (
    "loghub_parse", "bgl_anomaly", "bgl_templates_anomaly", "loglm_anomaly", "loginstruct_is_error",
    "logeval_diagnosis", "bgl_alert_diagnosis", "loginstruct_alarm_cause",
    "loglm_rca", "loglm_solution", "loglm_interpret", "loginstruct_main_issue", "loglm_parse",
)
# every trivial baseline; the runner skips those that do not answer a dataset's task
BASELINES = ("drain3", "keyword", "level", "majority", "echo")
_QUICK_PROGRAMS = ("direct", "cot", "coarse_to_fine") + BASELINES
_ALL_PROGRAMS = ("direct", "cot", "coarse_to_fine", "coarse_to_fine_noretrieval", "batch_parse") + BASELINES

SUITES = {
    "quick": Suite("quick", ("loghub_parse", "bgl_anomaly", "loginstruct_alarm_cause", "loglm_rca",
                             "loglm_interpret"), "test", 20,
                   "one bundled dataset per task, 20 test examples each stratified by gold answer; "
                   "direct, cot, coarse_to_fine and the baselines", _QUICK_PROGRAMS),
    "dev": Suite("dev", _ALL, "dev", 200, "every dataset, dev split, at most 200 stratified examples each; "
                 "every program, batch_parse and the baselines", _ALL_PROGRAMS),
    "full": Suite("full", _ALL, "test", None,
                  "every dataset, the whole test split; every program, batch_parse and the baselines", _ALL_PROGRAMS),
}


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise InputError(f"unknown suite {name!r}", f"choose one of {', '.join(SUITES)}") from None
