import json

import dspy
import pytest

from logreasoner.lm import engine_of, load_lm


def _request(schema=None, max_tokens=24):
    from dspy.lm15 import Config, Message, Request

    fmt = {"type": "json_schema", "name": "Out", "schema": schema, "strict": True} if schema else None
    return Request(model="x", messages=(Message.user("Is this abnormal? kernel panic"),),
                   system="Answer in JSON.", config=Config(max_tokens=max_tokens, temperature=0.0,
                                                          response_format=fmt))


SCHEMA = {"type": "object", "properties": {"verdict": {"type": "string", "enum": ["normal", "abnormal"]}},
          "required": ["verdict"], "additionalProperties": False}


def test_transformers_engine_constrained_output_parses(tiny_model_dir):
    pytest.importorskip("lmformatenforcer")
    from logreasoner.lm.hf import TransformersEngine

    eng = TransformersEngine(str(tiny_model_dir))
    resp = eng.complete(_request(SCHEMA, max_tokens=40))
    data = json.loads(resp.message.text)
    assert data["verdict"] in ("normal", "abnormal")
    assert eng.stats.constrained_calls == 1 and eng.stats.output_tokens > 0


def test_transformers_engine_free_output_is_random_text(tiny_model_dir):
    from logreasoner.lm.hf import TransformersEngine

    eng = TransformersEngine(str(tiny_model_dir), constrained=False)
    resp = eng.complete(_request(SCHEMA, max_tokens=12))
    assert eng.stats.constrained_calls == 0
    with pytest.raises(ValueError):
        json.loads(resp.message.text)  # an untrained model does not write JSON by itself


def test_engine_drives_a_dspy_program(tiny_model_dir):
    pytest.importorskip("lmformatenforcer")
    from typing import Literal

    lm = load_lm(str(tiny_model_dir), cache=False, max_tokens=40)

    class S(dspy.Signature):
        """Classify the line."""

        line: str = dspy.InputField()
        verdict: Literal["normal", "abnormal"] = dspy.OutputField()

    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        out = dspy.Predict(S)(line="kernel panic")
    assert out.verdict in ("normal", "abnormal")
    assert engine_of(lm).stats.calls == 1


@pytest.mark.model
def test_llamacpp_engine_on_embedded_model():
    pytest.importorskip("llama_cpp")
    from logreasoner.lm.registry import resolve_embedded

    try:
        resolve_embedded("local", allow_download=False)
    except Exception:
        pytest.skip("embedded model not pulled (run: logreasoner models pull local)")
    lm = load_lm("local", cache=False)
    eng = engine_of(lm)
    resp = eng.complete(_request(SCHEMA, max_tokens=20))
    assert json.loads(resp.message.text)["verdict"] in ("normal", "abnormal")
    assert eng.stats.output_tokens > 0 and eng.stats.seconds > 0


@pytest.mark.model
def test_grammar_first_decoding_matches_the_stock_chain():
    """Greedy constrained decoding that tests only the picked token gives the very same text as llama.cpp's
    chain that checks the whole vocabulary, and a second request reuses the cached prompt state."""
    pytest.importorskip("llama_cpp")
    from logreasoner.lm.llamacpp import LlamaCppEngine
    from logreasoner.lm.registry import resolve_embedded

    try:
        path = resolve_embedded("local", allow_download=False)
    except Exception:
        pytest.skip("embedded model not pulled (run: logreasoner models pull local)")
    schema = {"type": "object", "properties": {
        "why": {"type": "string", "maxLength": 80},
        "lines": {"type": "array", "maxItems": 3, "items": {"type": "integer", "minimum": 1, "maximum": 9}},
        "verdict": {"type": "string", "enum": ["normal", "abnormal"]}}, "required": ["why", "lines", "verdict"]}
    msgs = [{"role": "user", "content": "L1 sshd: Failed password for root from 10.0.0.1\nL2 kernel: CPU3 too hot\n"
                                        "Judge these log lines; answer in JSON."}]
    texts = []
    for gf in (True, False):
        eng = LlamaCppEngine(str(path), n_threads=2, grammar_first=gf, chat_format="chatml")
        text, *_ = eng._generate(msgs, schema=schema, max_tokens=120, temperature=0.0, stop=None, seed=None,
                                 top_p=None)
        texts.append(text)
        eng.close()
    assert texts[0] == texts[1]
    assert json.loads(texts[0])["verdict"] in ("normal", "abnormal")
