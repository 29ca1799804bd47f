"""Program names, baseline arguments, model locality, dataset registration."""

import pytest

from logreasoner.errors import ConfigError, UnknownTaskError
from logreasoner.evals.datasets import DatasetSpec, register_dataset
from logreasoner.evals.resolve import is_local_model, parse_program
from logreasoner.evals.suites import SUITES, get_suite


def test_program_specs():
    lvl = parse_program("level:FATAL")
    assert not lvl.needs_lm and lvl.supports("anomaly") and not lvl.supports("parse")
    assert lvl.build("anomaly")(log="x ERROR y").answer.verdict == "normal"  # only FATAL counts
    kw = parse_program("keyword:(?i)oops")
    assert kw.build("anomaly")(log="Oops").answer.verdict == "abnormal"
    direct = parse_program("direct")
    assert direct.needs_lm and direct.supports("parse") and direct.supports("rca")
    with pytest.raises(ConfigError, match="unknown program"):
        parse_program("gpt")
    with pytest.raises(ConfigError, match="takes no argument"):
        parse_program("cot:x")
    with pytest.raises(ConfigError, match="takes no argument"):
        parse_program("drain3:x")


def test_custom_program_attributes():
    def factory(task):
        return object()

    factory.needs_lm = False
    factory.tasks = ("anomaly",)
    spec = parse_program("mine", {"mine": factory})
    assert not spec.needs_lm and spec.supports("anomaly") and not spec.supports("rca")


def test_local_models_run_one_at_a_time():
    assert is_local_model("local") and is_local_model(None)
    assert not is_local_model("openai/gpt-4o-mini")


def test_register_dataset_checks_the_task():
    with pytest.raises(UnknownTaskError):
        register_dataset(DatasetSpec("x_bad", "no-such-task", "", "", "", False, loader=list))


def test_suites_name_registered_datasets():
    from logreasoner.evals.datasets import get_dataset

    for s in SUITES.values():
        for d in s.datasets:
            get_dataset(d)
    assert get_suite("quick").limit == 20
