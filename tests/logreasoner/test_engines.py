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
def test_llamacpp_engine_on_embedded_model(local_gguf):
    lm = load_lm("local", cache=False)
    eng = engine_of(lm)
    resp = eng.complete(_request(SCHEMA, max_tokens=20))
    assert json.loads(resp.message.text)["verdict"] in ("normal", "abnormal")
    assert eng.stats.output_tokens > 0 and eng.stats.seconds > 0


@pytest.mark.model
def test_grammar_first_decoding_matches_the_stock_chain(local_gguf):
    """Greedy constrained decoding that tests only the picked token gives the very same text as llama.cpp's
    chain that checks the whole vocabulary, and a second request reuses the cached prompt state."""
    from logreasoner.lm.llamacpp import LlamaCppEngine

    path = local_gguf
    schema = {"type": "object", "properties": {
        "why": {"type": "string", "maxLength": 80},
        "lines": {"type": "array", "maxItems": 3, "items": {"type": "integer", "minimum": 1, "maximum": 9}},
        "verdict": {"type": "string", "enum": ["normal", "abnormal"]}}, "required": ["why", "lines", "verdict"]}
    msgs = [{"role": "user", "content": "L1 sshd: Failed password for root from 10.0.0.1\nL2 kernel: CPU3 too hot\n"
                                        "Judge these log lines; answer in JSON."}]
    texts = []
    for gf in (True, False):
        # drafts off: batched logits may differ in the last bits (tests/logreasoner/test_schema_draft.py); the
        # repeat guard off: the stock chain has none
        eng = LlamaCppEngine(str(path), n_threads=2, grammar_first=gf, chat_format="chatml", schema_drafts=False,
                             repeat_guard=0)
        text, *_ = eng._generate(msgs, schema=schema, max_tokens=120, temperature=0.0, stop=None, seed=None,
                                 top_p=None)
        texts.append(text)
        eng.close()
    assert texts[0] == texts[1]
    assert json.loads(texts[0])["verdict"] in ("normal", "abnormal")


STEPS_SCHEMA = {"type": "object", "required": ["steps"], "properties": {"steps": {"type": "array", "items": {
    "type": "object", "required": ["finding", "lines"], "properties": {
        "finding": {"type": "string"}, "lines": {"type": "array", "items": {"type": "integer"}}}}}}}


def test_llamacpp_schema_grammar_keeps_control_characters_out_of_strings():
    """llama-cpp-python's converter allows a raw newline inside a string (not JSON); the engine's grammar does not."""
    pytest.importorskip("llama_cpp")
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from logreasoner.lm.llamacpp import _JSON_CHAR, _LOOSE_CHAR, schema_grammar

    schema = {"type": "object", "required": ["why"], "properties": {"why": {"type": "string", "maxLength": 40}}}
    assert _LOOSE_CHAR in json_schema_to_gbnf(json.dumps(schema))  # the rule the engine rewrites is still there
    text = schema_grammar(schema)._grammar
    assert _LOOSE_CHAR not in text and _JSON_CHAR in text and r"\x00-\x1F" in _JSON_CHAR


@pytest.mark.model
def test_the_grammar_first_pick_never_writes_a_chat_marker_token(local_gguf):
    """llama.cpp's grammar reads ``<|im_start|>`` as its text, legal inside a JSON string; the pick never offers it
    (nor any control token but the ones that end the answer)."""
    from logreasoner.lm.llamacpp import LlamaCppEngine

    path = local_gguf
    eng = LlamaCppEngine(str(path), n_threads=2, chat_format="chatml")
    llm = eng._load()
    never = set(llm._never_tokens().tolist())
    start = llm.tokenize(b"<|im_start|>", add_bos=False, special=True)
    end = llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
    eng.close()
    assert len(start) == 1 and start[0] in never
    assert len(end) == 1 and end[0] not in never  # the end of the turn still ends the answer


def test_longest_output_and_caps_for_budget():
    from logreasoner.lm.schema import cap_schema, caps_for_budget, longest_output

    capped = cap_schema(STEPS_SCHEMA, max_string=10, max_items=2)
    # {"steps": [ 2 x ({"finding": <12>, "lines": [2 x 10 digits]}) ]} with the separators counted
    worst = longest_output(capped)
    example = json.dumps({"steps": [{"finding": "x" * 10, "lines": [10**9, 10**9]}] * 2})
    assert len(example) <= worst < len(example) + 40
    caps = caps_for_budget(STEPS_SCHEMA, 300, max_string=200, max_items=5)
    assert caps is not None and caps[1] <= 3
    assert longest_output(cap_schema(STEPS_SCHEMA, max_string=caps[0], max_items=caps[1])) <= 300
    assert longest_output(cap_schema(STEPS_SCHEMA, max_string=caps[0] + 1, max_items=caps[1])) > 300
    assert caps_for_budget(STEPS_SCHEMA, 20, max_string=200, max_items=5) is None


def test_engine_asks_again_with_budget_caps_after_a_cut_off_answer():
    from logreasoner.lm.engine_base import LocalEngine
    from logreasoner.lm.schema import longest_output

    class Looping(LocalEngine):
        def __init__(self):
            super().__init__()
            self.schemas = []

        def _generate(self, messages, *, schema, max_tokens, temperature, stop, seed, top_p):
            self.schemas.append(schema)
            if len(self.schemas) == 1:  # a model looping inside a string until the budget runs out
                return '{"steps": [{"finding": "1.1.1.1.1.1', 50, max_tokens, "length"
            return '{"steps": [{"finding": "ok", "lines": [1]}]}', 50, 12, "stop"

    eng = Looping()
    resp = eng.complete(_request(STEPS_SCHEMA, max_tokens=400))
    assert json.loads(resp.message.text) == {"steps": [{"finding": "ok", "lines": [1]}]}
    assert len(eng.schemas) == 2 and longest_output(eng.schemas[1]) <= 400 < longest_output(eng.schemas[0])
    assert eng.stats.budget_retries == 1 and eng.stats.calls == 1
    assert resp.usage.output_tokens == 412 and resp.finish_reason == "stop"


@pytest.mark.model
def test_prompt_states_are_saved_without_logit_rows_and_restore_the_same_answer(local_gguf):
    """The RAM prompt cache's states hold the llama.cpp state, not llama-cpp-python's copy of every logits row;
    an answer asked again after another prompt and a state restore is the same."""
    from logreasoner.lm.llamacpp import LlamaCppEngine

    path = local_gguf
    schema = {"type": "object", "required": ["why"], "properties": {"why": {"type": "string", "maxLength": 60}}}

    def ask(eng, line):
        msgs = [{"role": "system", "content": "Say in a few words what the log line reports."},
                {"role": "user", "content": line}]
        return eng._generate(msgs, schema=schema, max_tokens=60, temperature=0.0, stop=None, seed=None,
                             top_p=None)[0]

    eng = LlamaCppEngine(str(path), n_threads=2, chat_format="chatml")
    first = ask(eng, "L1 sshd: Failed password for root from 10.0.0.1 port 22")
    llm = eng._llm
    states = list(llm.cache.cache_state.values())
    assert states and all(len(s.scores) == 0 for s in states)  # no logits rows kept
    ask(eng, "L1 kernel: CPU3 temperature above threshold")
    again = ask(eng, "L1 sshd: Failed password for root from 10.0.0.1 port 22")  # restored from the cache
    eng.close()
    fresh = LlamaCppEngine(str(path), n_threads=2, chat_format="chatml", prompt_cache_mb=0)
    cold = ask(fresh, "L1 sshd: Failed password for root from 10.0.0.1 port 22")
    fresh.close()
    assert first == again == cold
    assert json.loads(first)["why"]
