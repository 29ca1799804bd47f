"""examples/custom_engine.py: one register_engine call makes a backend usable by every model spec."""

import runpy
from pathlib import Path

import pytest

from logreasoner.errors import ModelUnavailableError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine_example():
    from logreasoner.lm import engines

    before = dict(engines._ENGINES)
    yield runpy.run_path(str(ROOT / "examples" / "custom_engine.py"), run_name="example")
    engines._ENGINES.clear()
    engines._ENGINES.update(before)


def test_a_registered_engine_is_a_spec_prefix_and_says_it_is_serial(engine_example):
    from logreasoner.lm.engines import engine_names, get_engine
    from logreasoner.lm.spec import parse_spec, spec_is_serial

    assert "llamacpp-rp" in engine_names() and get_engine("llamacpp-rp") is engine_example["ENGINE"]
    assert parse_spec("llamacpp-rp:local").backend == "llamacpp-rp"
    assert parse_spec("llamacpp-rp:local").kind == "embedded"
    if get_engine("llamacpp-rp").available():
        assert spec_is_serial("llamacpp-rp:local")
    with pytest.raises(ModelUnavailableError, match="unknown model"):
        parse_spec("nosuchengine:local")  # not a registered prefix: not a model either


@pytest.mark.model
def test_the_example_engine_answers_through_analyze(engine_example):
    pytest.importorskip("llama_cpp")
    from logreasoner import analyze
    from logreasoner.lm import load_lm

    lm = load_lm("llamacpp-rp:local")
    assert lm.engine.repeat_penalty == engine_example["REPEAT_PENALTY"]
    assert lm.engine.lora_path and lm.engine.lora_path.endswith("adapter.gguf")  # the shipped student, same adapter
    assert "@llamacpp-rp" in lm.model  # its own cache namespace: never answered from llamacpp's entries
    res = analyze(text="Jan 1 10:00:01 host sshd[42]: Failed password for root from 10.0.0.9 port 22 ssh2",
                  task="anomaly", model=lm, program="direct")
    assert res.format_error is None and res.answer["verdict"] in ("normal", "abnormal")
