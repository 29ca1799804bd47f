"""Suites: quick = 20 stratified examples per dataset with direct / cot / coarse_to_fine and the baselines."""

from collections import Counter

import pytest

from logreasoner.evals.planning import plan_cells
from logreasoner.evals.runner import DEFAULT_PROGRAMS, RunConfig
from logreasoner.evals.suites import SUITES, get_suite


def test_quick_suite_programs_and_limit():
    quick = get_suite("quick")
    assert quick.limit == 20 and quick.split == "test"
    assert quick.programs[:3] == ("direct", "cot", "coarse_to_fine")
    assert {"drain3", "keyword", "level", "majority", "echo"} <= set(quick.programs)
    assert {"dev", "full"} <= set(SUITES)
    assert get_suite("dev").split == "dev" and get_suite("full").limit is None


def test_the_longer_suites_score_the_parser_users_run():
    from logreasoner.evals.resolve import parse_program

    for name in ("dev", "full"):
        programs = get_suite(name).programs
        assert "batch_parse" in programs and "batch_parse" not in get_suite("quick").programs
        assert all(parse_program(p) for p in programs)  # every name resolves


def test_a_suite_run_takes_the_suite_programs_unless_given():
    assert RunConfig(suite="quick").programs == list(get_suite("quick").programs)
    assert RunConfig(suite="quick", programs=["level"]).programs == ["level"]
    assert RunConfig(datasets=["bgl_anomaly"]).programs == DEFAULT_PROGRAMS
    # saved explicitly, so a resumed run does not depend on the suite's later definition
    again = RunConfig.model_validate_json(RunConfig(suite="dev").model_dump_json())
    assert again.programs == list(get_suite("dev").programs)


def test_quick_plan_every_cell_has_20_stratified_examples_and_a_baseline():
    cells, skipped, notes = plan_cells(RunConfig(suite="quick", models=["m"]), None, "m")
    datasets = get_suite("quick").datasets
    assert {c.dataset.name for c in cells} == set(datasets)
    for name in datasets:
        mine = [c for c in cells if c.dataset.name == name]
        assert all(len(c.examples) == 20 for c in mine), name
        progs = {c.program.label for c in mine}
        assert {"direct", "cot", "coarse_to_fine"} <= progs, name
        assert progs & {"drain3", "keyword", "level", "majority", "echo"}, f"{name}: no trivial baseline"
    bgl = next(c for c in cells if c.dataset.name == "bgl_anomaly")
    golds = Counter(e.answer for e in bgl.examples)
    assert golds["abnormal"] >= 1 and golds["normal"] >= 1  # stratified: the rare class is drawn
    # the baselines that do not answer a task are skipped, not run
    assert any(s["program"] == "drain3" and s["dataset"] == "bgl_anomaly" for s in skipped)


@pytest.mark.parametrize("name", ["dev", "full"])
def test_longer_suites_cover_every_registered_dataset_task(name):
    from logreasoner.evals.datasets import get_dataset

    tasks = {get_dataset(d).task for d in get_suite(name).datasets}
    assert tasks == {"parse", "anomaly", "diagnosis", "rca", "interpret"}
