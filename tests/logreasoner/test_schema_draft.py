"""Schema drafts: the text a JSON schema forces next, and the engine that checks such drafts in one batch."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logreasoner.lm.schema import cap_schema
from logreasoner.lm.schema_draft import next_literal

STEP_SCHEMA = cap_schema({"type": "object", "required": ["steps", "answer"], "properties": {
    "steps": {"type": "array", "items": {"type": "object", "required": ["step", "finding", "evidence_lines"],
                                         "properties": {"step": {"type": "string"}, "finding": {"type": "string"},
                                                        "evidence_lines": {"type": "array",
                                                                           "items": {"enum": [1, 2, 3]}}}}},
    "answer": {"type": "object", "required": ["verdict", "evidence_lines"], "properties": {
        "verdict": {"type": "string", "enum": ["abnormal", "absent"]},
        "evidence_lines": {"type": "array", "items": {"type": "integer"}}}}}})
PLAN_SCHEMA = cap_schema({"type": "object", "required": ["problem_overview", "key_challenges", "reasoning_steps"],
                          "properties": {"problem_overview": {"type": "string"},
                                         "key_challenges": {"type": "array", "items": {"type": "string"}},
                                         "reasoning_steps": {"type": "array", "items": {"type": "string"}},
                                         "note": {"type": "string"}}})


@pytest.mark.parametrize("prefix, draft", [
    ("{", '"steps": [{"step": "'),
    ('{"', 'steps": [{"step": "'),
    ('{"ste', 'ps": [{"step": "'),
    ('{"steps":', ' [{"step": "'),
    ('{"steps": ', '[{"step": "'),
    ('{"steps": [{"step": "Check', ""),  # the model's own words
    ('{"steps": [{"step": "Check \\"x\\",', ""),  # an escaped quote does not end the string
    ('{"steps": [{"step": "Check",', ' "finding": "'),
    ('{"steps": [{"step": "Check", "finding": "x",', ' "evidence_lines":'),  # a list of lines may be empty
    ('{"steps": [{"step": "Check", "finding": "x", "evidence_lines": [', ""),
    ('{"steps": [{"step": "Check", "finding": "x", "evidence_lines": [1]},', ' {"step": "'),
    ('{"steps": [{"step": "Check", "finding": "x", "evidence_lines": []}],', ' "answer": {"verdict": "'),
    ('{"steps": [{"step": "a", "finding": "b", "evidence_lines": []}], "answer": {"verdict": "absent"}}', ""),
])
def test_next_literal_drafts_what_the_schema_forces(prefix, draft):
    assert next_literal(prefix, STEP_SCHEMA) == draft


def test_a_const_string_is_drafted_whole_and_escaped():
    schema = {"type": "object", "required": ["kind", "note"],
              "properties": {"kind": {"type": "string", "const": 'say "hi"'}, "note": {"type": "string"}}}
    assert next_literal("{", schema) == '"kind": "say \\"hi\\""'


def test_an_optional_key_is_never_drafted():
    text = '{"problem_overview": "disk", "key_challenges": ["a"], "reasoning_steps": ["b"],'
    assert next_literal(text, PLAN_SCHEMA) == ""
    assert next_literal('{"problem_overview": "disk",', PLAN_SCHEMA) == ' "key_challenges": ["'


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_step = st.fixed_dictionaries({"step": _text, "finding": _text,
                               "evidence_lines": st.lists(st.sampled_from([1, 2, 3]), max_size=3)})
_steps_answer = st.fixed_dictionaries({
    "steps": st.lists(_step, min_size=1, max_size=3),
    "answer": st.fixed_dictionaries({"verdict": st.sampled_from(["abnormal", "absent"]),
                                     "evidence_lines": st.lists(st.integers(0, 99), max_size=3)})})
_plan = st.fixed_dictionaries({"problem_overview": _text, "key_challenges": st.lists(_text, min_size=1, max_size=3),
                               "reasoning_steps": st.lists(_text, min_size=1, max_size=3)},
                              optional={"note": _text})


def _in_schema_order(value, schema):
    """``value`` with every object's keys in the schema's order (as a schema grammar writes them)."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        return {k: _in_schema_order(value[k], props.get(k) or {}) for k in props if k in value}
    if isinstance(value, list):
        return [_in_schema_order(v, schema.get("items") or {}) for v in value]
    return value


@settings(max_examples=60, deadline=None)
@given(doc=st.one_of(_steps_answer.map(lambda d: (d, STEP_SCHEMA)), _plan.map(lambda d: (d, PLAN_SCHEMA))),
       ascii_only=st.booleans())
def test_a_draft_is_always_what_a_valid_answer_writes_next(doc, ascii_only):
    """At every cut of any answer the schema allows (written as json.dumps writes it), the draft is exactly how the
    answer goes on: drafts never propose text the schema leaves to the model."""
    value, schema = doc
    text = json.dumps(_in_schema_order(value, schema), ensure_ascii=ascii_only)
    drafted = 0
    for cut in range(len(text) + 1):
        draft = next_literal(text[:cut], schema)
        assert text[cut:].startswith(draft), (text[:cut], draft)
        drafted += bool(draft)
    assert drafted >= 3  # the keys of the top object at least


@pytest.mark.model
def test_the_engine_checks_schema_drafts_in_batches(local_gguf):
    """With drafts the embedded model writes a valid answer in fewer forward passes than tokens."""
    from logreasoner.lm.llamacpp import LlamaCppEngine

    path = local_gguf
    msgs = [{"role": "user", "content": "L1 kernel: CPU3 temperature above threshold, cpu clock throttled\n"
                                        "Work through the line step by step; answer in JSON."}]
    from logreasoner.lm.schema import caps_for_budget

    eng = LlamaCppEngine(str(path), n_threads=2, chat_format="chatml")
    # caps under which the longest answer fits in max_tokens characters (so in fewer tokens): the answer always
    # closes, whichever path the greedy pick takes on this CPU's arithmetic
    max_string, max_items = caps_for_budget(STEP_SCHEMA, 300, max_string=300, max_items=6)
    schema = cap_schema(STEP_SCHEMA, max_string=max_string, max_items=max_items)
    text, _, n_out, _ = eng._generate(msgs, schema=schema, max_tokens=300, temperature=0.0, stop=None,
                                      seed=None, top_p=None)
    draft = eng._llm.draft_model
    eng.close()
    value = json.loads(text)
    assert value["answer"]["verdict"] in ("abnormal", "absent") and value["steps"]
    assert draft.proposed > 0
    assert 0 < draft.passes < n_out  # the accepted drafts saved passes


@pytest.mark.parametrize("values, opener", [
    (["abnormal", "absent"], '"'),  # not inside a word: "ab" + "normal" may not be how the model writes it
    (["network timeout", "network congestion"], '"network'),  # not on the space: " timeout" is one token
    (["disk_full", "disk_failure"], '"disk_'),
    (["Hardware", "Hardware fault"], '"Hardware'),
    (["normal"], '"normal'),
])
def test_an_enums_draft_ends_where_a_word_does(values, opener):
    schema = {"type": "object", "required": ["label"], "properties": {"label": {"type": "string", "enum": values}}}
    assert next_literal("{", schema) == '"label": ' + opener
