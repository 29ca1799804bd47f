"""Named suites: which datasets, which split, how many examples each.

- ``quick``: every task once, bundled data only, 20 test examples per dataset (a smoke run of a model).
- ``dev``: every dataset on the dev split, at most 200 examples each (for iterating on programs).
- ``full``: every dataset, the whole test split.

Datasets read from the shared folder (not bundled) are included only when that folder is present; a suite
notes the ones it left out instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass

from logreasoner.errors import InputError

__all__ = ["Suite", "SUITES", "get_suite"]


@dataclass(frozen=True)
class Suite:
    name: str
    datasets: tuple[str, ...]
    split: str
    limit: int | None
    description: str


_ALL = (
    "loghub_parse", "bgl_anomaly", "bgl_templates_anomaly", "loglm_anomaly", "loginstruct_is_error",
    "logeval_diagnosis", "bgl_alert_diagnosis", "loginstruct_alarm_cause",
    "loglm_rca", "loglm_solution", "loglm_interpret", "loginstruct_main_issue", "loglm_parse",
)

SUITES = {
    "quick": Suite("quick", ("loghub_parse", "bgl_anomaly", "loginstruct_alarm_cause", "loglm_rca",
                             "loglm_interpret"), "test", 20,
                   "one dataset per task, bundled data only, 20 test examples each"),
    "dev": Suite("dev", _ALL, "dev", 200, "every dataset, dev split, at most 200 examples each"),
    "full": Suite("full", _ALL, "test", None, "every dataset, the whole test split"),
}


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise InputError(f"unknown suite {name!r}", f"choose one of {', '.join(SUITES)}") from None
