"""The test session never touches the user's cache folder or leaves tasks registered (fixtures in
tests/conftest.py). ``analyze`` with the default program opens the default thought store, which used to create
``thoughts.db`` in the user's cache (tests/cli/test_cli.py::test_analyze_api_json_validates_against_answer_model)."""

from __future__ import annotations

import dspy
from dspy.utils import DummyLM
from pydantic import BaseModel

from logreasoner.analysis import analyze
from logreasoner.errors import UnknownTaskError
from logreasoner.settings import default_cache_dir, get_settings
from logreasoner.tasks import Task, get_task, register_task


def test_the_default_thought_store_opens_in_the_session_cache(tmp_path, _test_cache_dir):
    assert get_settings().cache_dir == _test_cache_dir != default_cache_dir()
    log = tmp_path / "app.log"
    log.write_text("INFO start\nERROR disk failure on sda\n")
    lm = DummyLM([{"problem_overview": "p", "key_challenges": ["c"], "reasoning_steps": ["s"]},
                  {"steps": [{"step": "s", "finding": "f", "evidence_lines": [2]}],
                   "answer": {"verdict": "abnormal", "evidence_lines": [2]}}], adapter=dspy.JSONAdapter())
    analyze(log, task="anomaly", model=lm)
    assert (_test_cache_dir / "thoughts.db").is_file()


def test_pulled_models_are_found_through_the_session_cache(_test_cache_dir):
    """Each model folder of the user's cache is linked in, so `models pull` is not repeated by the tests."""
    from logreasoner.lm.registry import EMBEDDED_MODELS, model_cache_dir, resolve_embedded

    assert model_cache_dir() == _test_cache_dir / "models"
    for entry in model_cache_dir().iterdir():
        assert entry.is_symlink() and not entry.resolve().is_relative_to(_test_cache_dir)
        if entry.name in EMBEDDED_MODELS and (entry / EMBEDDED_MODELS[entry.name].filename).is_file():
            assert resolve_embedded(entry.name, allow_download=False) == entry / EMBEDDED_MODELS[entry.name].filename


class _Level(BaseModel):
    level: str


def test_a_task_registered_by_a_test_a():
    register_task(Task(name="leak-check", description="Only for this test.", answer_type=_Level,
                       primary_field="level", aliases=("leak-check-alias",)))
    assert get_task("leak-check-alias").name == "leak-check"


def test_a_task_registered_by_a_test_b_is_gone_in_the_next():
    for name in ("leak-check", "leak-check-alias"):
        try:
            get_task(name)
        except UnknownTaskError:
            continue
        raise AssertionError(f"{name!r} is still registered: the registry fixture in tests/conftest.py failed")
