"""Stages added from user code (finetune.stages.register_stage): where they run, what they may declare, their
[stages.<name>] tables, their keys, and how they run, skip and record themselves like the built-in stages."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from pydantic import BaseModel, ConfigDict, Field

from logreasoner.errors import ConfigError
from logreasoner.finetune import stages as stages_module
from logreasoner.finetune.config import FinetuneConfig
from logreasoner.finetune.pipeline import Pipeline
from logreasoner.finetune.stages import STAGES, Stage, pipeline_stages, register_stage, stage


class CountSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_chars: int = Field(0, ge=0)


class Loose(BaseModel):
    min_chars: int = 0


CALLS: list[dict] = []


def count_traces(pipeline, settings: CountSettings, out_dir) -> dict:
    """Traces at least ``min_chars`` long, written to ``out_dir/count.json``."""
    lines = (pipeline.out_dir("traces") / "traces.jsonl").read_text().splitlines()
    result = {"traces": sum(len(x) >= settings.min_chars for x in lines)}
    (out_dir / "count.json").write_text(json.dumps(result))
    CALLS.append(result)
    return result


def _stage(name: str = "count", **kw) -> Stage:
    kw = {"inputs": ("traces",), "outputs": name, "config_model": CountSettings, **kw}
    return Stage(name, kw.pop("run", count_traces), "Count the traces.", **kw)


@pytest.fixture(autouse=True)
def registry(monkeypatch):
    """Every test starts from the built-in stages, and the run order is put back afterwards."""
    monkeypatch.setattr(stages_module, "_ORDER", stages_module.PIPELINE)
    CALLS.clear()


def _names() -> list[str]:
    return [s.name for s in pipeline_stages()]


def test_a_registered_stage_runs_right_after_the_one_named():
    register_stage(_stage("a"), after="traces")
    register_stage(_stage("b"), after="traces")  # after the one registered there before it
    register_stage(_stage("c", inputs=("mine",)), after="mine")
    assert _names() == ["traces", "a", "b", "sft-data", "sft", "mine", "c", "dpo", "export", "eval"]
    assert stage("c").outputs == "c"
    register_stage(_stage("a", outputs="a2"), after="mine", replace=True)  # replaced, and moved
    assert _names() == ["traces", "b", "sft-data", "sft", "mine", "c", "a", "dpo", "export", "eval"]
    assert stage("a").outputs == "a2"


@pytest.mark.parametrize("st, after, error", [
    (_stage("traces"), "traces", "stage 'traces' is built in"),
    (_stage(), "distil", r"no stage 'distil' to run stage 'count' after \(choose from: traces, sft-data"),
    (_stage(inputs=("mine",)), "traces", r"reads \['mine'\], which do not run before it"),
    (_stage(run="count_traces"), "traces", "run must be a function"),
    (_stage(per="sft.phases"), "traces", "parts"),
    (_stage(options=("device",)), "traces", "CLI options"),
    (_stage(config_model=Loose), "traces", "not a pydantic model that rejects unknown keys"),
    (_stage(config_model=SimpleNamespace), "traces", "not a pydantic model"),
])
def test_registration_errors_say_what_to_do(st, after, error):
    with pytest.raises(ConfigError, match=error):
        register_stage(st, after=after)
    assert _names() == list(STAGES)


def test_a_name_is_registered_once_unless_replaced():
    register_stage(_stage(), after="traces")
    with pytest.raises(ConfigError, match="'count' is already registered .*replace=True"):
        register_stage(_stage(), after="sft-data")
    assert _names().count("count") == 1


def test_stage_tables_are_checked_against_the_registered_stages():
    with pytest.raises(ConfigError, match=r"no registered stage takes the table \[stages.count\].*register the"):
        FinetuneConfig.model_validate({"stages": {"count": {}}})  # the table before the stage
    register_stage(_stage(), after="traces")
    register_stage(_stage("plain", config_model=None), after="count")
    assert FinetuneConfig.model_validate({"stages": {"count": {"min_chars": 3}}}).stages["count"].min_chars == 3
    with pytest.raises(ConfigError, match=r"\[stages.count\] min_char: Extra inputs.*fields of CountSettings are"):
        FinetuneConfig.model_validate({"stages": {"count": {"min_char": 3}}})
    with pytest.raises(ConfigError, match=r"\[stages.count\] min_chars: Input should be greater than or equal to 0"):
        FinetuneConfig.model_validate({"stages": {"count": {"min_chars": -1}}})
    with pytest.raises(ConfigError, match=r"\[stages.plain\].*stages with a table: count"):
        FinetuneConfig.model_validate({"stages": {"plain": {}}})
    # no table: the stage's defaults
    assert stage("count").settings(FinetuneConfig()) == CountSettings()
    assert stage("plain").settings(FinetuneConfig()) is None


def _pipeline(tmp_path, stages_table: dict | None = None, traces_finished: str = "2026-01-01T01:00:00+00:00"):
    cfg = FinetuneConfig.model_validate({"run_dir": str(tmp_path), "stages": stages_table or {}})
    (tmp_path / "traces").mkdir(parents=True, exist_ok=True)
    (tmp_path / "traces" / "traces.jsonl").write_text('{"id": "a"}\n{"id": "a long trace"}\n')
    state = {"stages": {"traces": {"status": "done", "finished": traces_finished, "outputs": {}}}}
    (tmp_path / "state.json").write_text(json.dumps(state))
    return Pipeline(cfg, progress=False)


def test_the_key_hashes_the_table_and_the_inputs_and_leaves_built_in_keys_alone(tmp_path):
    before = _pipeline(tmp_path / "a")
    traces_key = before._key(stage("sft-data"))
    register_stage(_stage(), after="traces")
    base = _pipeline(tmp_path / "b")
    key = base._key(stage("count"))
    assert base._key(stage("sft-data")) == traces_key
    assert _pipeline(tmp_path / "c", {"count": {"min_chars": 0}})._key(stage("count")) == key  # = the defaults
    assert _pipeline(tmp_path / "d", {"count": {"min_chars": 5}})._key(stage("count")) != key
    assert _pipeline(tmp_path / "e", traces_finished="2026-02-01T00:00:00+00:00")._key(stage("count")) != key


def test_a_registered_stage_runs_skips_and_records_itself_like_a_built_in_one(tmp_path):
    register_stage(_stage(), after="traces")
    p = _pipeline(tmp_path, {"count": {"min_chars": 12}})
    assert p.run(["count"]) == {"count": {"traces": 1}}
    assert json.loads((tmp_path / "count" / "count.json").read_text()) == {"traces": 1}
    entry = json.loads((tmp_path / "state.json").read_text())["stages"]["count"]
    assert entry["status"] == "done" and entry["outputs"] == {"traces": 1} and entry["config_hash"] == p._key(
        stage("count"))
    assert p.run_stage("count") == {"traces": 1} and len(CALLS) == 1  # current: skipped
    assert p.run_stage("count", force=True) == {"traces": 1} and len(CALLS) == 2
    assert len(Pipeline(p.cfg.model_copy(update={"stages": {"count": CountSettings(min_chars=0)}}),
                        progress=False).run(["count"])) == 1 and CALLS[-1] == {"traces": 2}
    # a default run includes it, in its place
    called = []
    for st in pipeline_stages():
        if isinstance(st.run, str):
            setattr(p, st.run, lambda force=False, name=st.name: called.append(name) or {})
    assert list(p.run()) == [n for n in _names() if n != "eval"]


def test_a_stage_that_returns_no_dict_fails_and_says_so(tmp_path):
    register_stage(_stage(run=lambda pipeline, settings, out_dir: None), after="traces")
    p = _pipeline(tmp_path)
    with pytest.raises(ConfigError, match="returned NoneType, not a dict"):
        p.run_stage("count")
    assert json.loads((tmp_path / "state.json").read_text())["stages"]["count"]["status"] == "failed"


def test_installed_stages_load_from_entry_points(monkeypatch):
    class EntryPoint:
        def __init__(self, name, load):
            self.name, self.load = name, load

    def broken():
        raise ImportError("no module named 'gone'")

    eps = [EntryPoint("count", lambda: register_stage(_stage(), after="traces")), EntryPoint("gone", broken),
           EntryPoint("odd", lambda: "not a stage")]
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: eps if group == "logreasoner.finetune_stages"
                        else [])
    monkeypatch.setattr(stages_module, "_LOADED_ENTRY_POINTS", False)
    with pytest.warns(UserWarning) as warned:
        assert _names()[:2] == ["traces", "count"]
    messages = [str(w.message) for w in warned]
    assert any("'gone' failed to load: no module named 'gone'" in m for m in messages)
    assert any("'odd' names 'not a stage', not a stage its module registers" in m for m in messages)
    assert _names()[:2] == ["traces", "count"]  # loaded once
