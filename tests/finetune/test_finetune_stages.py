"""The stage declarations (finetune.stages) and what comes from them: the run order and dispatch, the keys that
decide whether a finished stage is current, the output folders and the per-stage CLI commands."""

from __future__ import annotations

import json

import pytest

from logreasoner.errors import ConfigError
from logreasoner.finetune.config import FinetuneConfig
from logreasoner.finetune.data import make_example
from logreasoner.finetune.pipeline import Pipeline
from logreasoner.finetune.stages import PIPELINE, STAGES, section, stage
from logreasoner.finetune.state import RunState

# Keys the pipeline gave before the stages were declared once (same config, state and examples as ``_pipeline``):
# a changed key makes every existing run folder stale, so change these only on purpose.
PINNED_KEYS = {
    "traces": "467f7d6e36afd7ce",
    "sft-data": "7eee77ac301ac739",
    "sft:thought": "76253adee558da50",
    "sft:stepwise": "1496a378ab0b52b6",
    "sft:again": "44ca1cacfe93e53b",
    "mine": "046213a085718d90",
    "dpo": "0b96fc3238b8976e",
    "export": "8ce3b453e73fb75e",
    "eval:base": "3673d40fee948b0e",
}
DONE = ["traces", "sft-data", "sft:thought", "sft:stepwise", "sft:again", "mine", "dpo", "export"]


def _pipeline(tmp_path, **state_changes) -> Pipeline:
    """Three SFT phases (the third continues the first by name), every stage but eval done, in order."""
    cfg = FinetuneConfig.model_validate({
        "run_dir": str(tmp_path), "student": "local-base", "eval": {"variants": ["base"]},
        "sft": {"phases": [{"name": "thought", "data": ["thought"], "continue_from": None},
                           {"name": "stepwise", "data": ["stepwise"]},
                           {"name": "again", "data": ["thought"], "continue_from": "thought"}]}})
    stages = {k: {"status": "done", "started": f"2026-01-01T{h:02d}:00:00+00:00",
                  "finished": f"2026-01-01T{h:02d}:30:00+00:00", "outputs": {}} for h, k in enumerate(DONE, 1)}
    for key, finished in state_changes.items():
        stages[key.replace("_", ":")]["finished"] = finished
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "state.json").write_text(json.dumps({"stages": stages}))
    exs = [make_example("L1 kernel panic", "abnormal", task="anomaly"),
           make_example("L1 all good", "normal", task="anomaly")]
    return Pipeline(cfg, train_examples=exs, test_examples=exs, progress=False)


class _Asked(Exception):
    pass


def _keys(p: Pipeline, monkeypatch) -> dict[str, str]:
    """The key each stage asks state.json about (nothing runs: the question stops the stage)."""

    def done(self, name, chash=None):
        raise _Asked(name, chash)

    monkeypatch.setattr(RunState, "done", done)
    keys = {}
    calls = [p.traces, p.sft_data, *(lambda ph=ph: p.sft(ph.name) for ph in p.phases), p.mine, p.dpo, p.export,
             p.evaluate]
    for call in calls:
        with pytest.raises(_Asked) as asked:
            call()
        keys[asked.value.args[0]] = asked.value.args[1]
    return keys


def test_declarations_are_in_run_order_with_config_sections_that_exist():
    assert STAGES == ("traces", "sft-data", "sft", "mine", "dpo", "export", "eval")
    cfg = FinetuneConfig()
    for i, st in enumerate(PIPELINE):
        assert all(n in STAGES[: i + 1] for n in st.inputs), st.name
        for path in st.config + ((st.enabled,) if st.enabled else ()) + ((st.per,) if st.per else ()):
            section(cfg, path)  # AttributeError when a declared section is not a config field
        assert callable(getattr(Pipeline, st.run))
    sft = stage("sft")
    assert (sft.key("thought"), sft.folder("thought"), sft.parts(cfg)) == ("sft:thought", "sft-thought",
                                                                            ["thought", "stepwise"])
    assert stage("dpo").key() == "dpo" and stage("export").folder() == ""
    with pytest.raises(ConfigError, match="choose from: traces, sft-data"):
        stage("distil")


def test_keys_stay_those_of_existing_run_folders(tmp_path, monkeypatch):
    assert _keys(_pipeline(tmp_path), monkeypatch) == PINNED_KEYS


def test_a_stage_run_again_makes_only_the_stages_reading_it_stale(tmp_path, monkeypatch):
    before = _keys(_pipeline(tmp_path / "a"), monkeypatch)
    after = _keys(_pipeline(tmp_path / "b", sft_thought="2026-02-01T00:00:00+00:00"), monkeypatch)
    changed = {k for k in before if before[k] != after[k]}
    # stepwise continues the previous phase and "again" continues thought by name; mine reads the last phase
    assert changed == {"sft:stepwise", "sft:again"}
    after = _keys(_pipeline(tmp_path / "c", sft_again="2026-02-01T00:00:00+00:00"), monkeypatch)
    # mine reads the last phase; export now reads that phase too (the DPO adapter is older than it)
    assert {k for k in before if before[k] != after[k]} == {"mine", "export"}


def test_a_phase_continues_a_shipped_gguf_adapter_imported_once_and_keyed_by_its_content(tmp_path, monkeypatch):
    import logreasoner.finetune.gguf_lora as gl
    import logreasoner.finetune.sft as fsft
    import logreasoner.finetune.sft_data as fdata
    import logreasoner.finetune.student as fs

    imports, trained = [], []

    def fake_import(path, folder, *, base_config, base_model):
        imports.append(path.name)
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text("{}")
        return folder

    monkeypatch.setattr(gl, "import_gguf_lora", fake_import)
    monkeypatch.setattr(fs, "ensure_student_folder", lambda spec: tmp_path / "hf")
    monkeypatch.setattr(fdata, "load_sft_dataset", lambda data, kinds: ["row"])
    monkeypatch.setattr(fsft, "train_sft", lambda ds, out, **kw: trained.append(kw["init_adapter"]) or {"steps": 1})
    ship = tmp_path / "adapter.gguf"

    def pipeline():
        cfg = FinetuneConfig.model_validate({
            "run_dir": str(tmp_path / "run"), "student": "local-base",
            "sft": {"phases": [{"name": "more", "data": ["direct"], "continue_from": str(ship)}]}})
        return Pipeline(cfg, train_examples=[], test_examples=[], progress=False)

    ship.write_bytes(b"lora one")
    with monkeypatch.context() as m:
        first = _keys_of(pipeline(), m, lambda p: p.sft("more"))
    assert imports == []  # a key needs the file's content, not its import (the base model is not converted)
    ship.write_bytes(b"lora two")
    with monkeypatch.context() as m:
        assert _keys_of(pipeline(), m, lambda p: p.sft("more")) != first  # another adapter, same path: a new key
    pipeline().sft("more")
    assert imports == ["adapter.gguf"] and trained[0].parent.name == "imported"
    assert (trained[0] / "adapter_config.json").is_file()
    ship.unlink()
    with pytest.raises(ConfigError, match="does not exist"):
        pipeline().sft("more")


def _keys_of(p, monkeypatch, call):
    def done(self, name, chash=None):
        raise _Asked(name, chash)

    monkeypatch.setattr(RunState, "done", done)
    with pytest.raises(_Asked) as asked:
        call(p)
    return asked.value.args[1]


def test_run_dispatches_the_chosen_stages_in_declared_order(tmp_path, monkeypatch):
    p = _pipeline(tmp_path)
    called = []
    for st in PIPELINE:
        monkeypatch.setattr(p, st.run, lambda force=False, name=st.name: called.append((name, force)) or {})
    assert list(p.run(["dpo", "traces"], force=True)) == ["traces", "dpo"]
    assert called == [("traces", True), ("dpo", True)]
    called.clear()
    p.run()  # eval only when [eval] enabled
    assert [n for n, _ in called] == list(STAGES[:-1])
    p.cfg.eval.enabled = True
    called.clear()
    p.run()
    assert [n for n, _ in called] == list(STAGES)
    with pytest.raises(ConfigError, match="unknown stage"):
        p.run(["traces", "distil"])


def test_paths_come_from_the_declared_folders(tmp_path):
    p = _pipeline(tmp_path)
    assert p.phase_adapter("again") == tmp_path / "sft-again" / "adapter"
    assert p.final_adapter() == (tmp_path / "dpo" / "adapter", "dpo")
    assert [p.variant_adapter(v) for v in ("base", "dpo", "final", "stepwise")] == [
        None, tmp_path / "dpo" / "adapter", tmp_path / "adapter", tmp_path / "sft-stepwise" / "adapter"]
    later = _pipeline(tmp_path, sft_again="2026-02-01T00:00:00+00:00")  # SFT ran again after that DPO
    assert later.final_adapter() == (tmp_path / "sft-again" / "adapter", "sft-again")


def test_every_stage_is_a_cli_command_with_its_declared_options():
    import typer.main

    from logreasoner.finetune.cli import app

    group = typer.main.get_command(app)
    assert list(group.commands) == ["run", *STAGES, "ship", "status"]
    for st in PIPELINE:
        opts = {o for p in group.commands[st.name].params for o in p.opts}
        assert {"--config", "--run-dir", "--force", "--json"} <= opts
        assert {o.lstrip("-") for o in opts} - {"config", "c", "run-dir", "force", "json", "help"} == set(st.options)
