"""The JSON reader the schema drafts and the repeat guard share."""

import json

from hypothesis import given
from hypothesis import strategies as st

from logreasoner.lm.json_cursor import JsonCursor
from logreasoner.lm.schema_draft import SchemaDraft, literal_at, next_literal

SCHEMA = {"type": "object", "required": ["steps", "answer"], "properties": {
    "steps": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["step", "finding"],
                                                         "properties": {"step": {"type": "string"},
                                                                        "finding": {"type": "string"}}}},
    "answer": {"type": "object", "required": ["verdict"], "properties": {"verdict": {"type": "string"}}}}}


def test_events_and_state_follow_keys_values_and_escapes():
    cur = JsonCursor()
    events = [cur.feed(ch) for ch in '{"a": ["x\\"y", 1']
    assert events.count("open") == 2 and events.count("close") == 2
    assert cur.in_array and not cur.in_string and cur.last == "scalar"
    assert cur.stack[0]["key"] == "a" and cur.stack[-1]["i"] == 1
    cur.feed_text(', "tail')
    assert cur.in_value_string and cur.closes_string('x"') and not cur.closes_string("x\\")


values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                  max_size=3), max_leaves=8)


@given(values)
def test_a_whole_value_closes_every_container_and_string(value):
    cur = JsonCursor().feed_text(json.dumps(value))
    assert cur.stack == [] and not cur.in_string


class _Tok:
    """A character-level tokenizer standing in for llama.cpp's."""

    def detokenize(self, ids):
        return "".join(map(chr, ids)).encode()

    def tokenize(self, text, add_bos=False, special=False):
        return [ord(c) for c in text.decode()]


@given(st.integers(min_value=0, max_value=120))
def test_the_incremental_draft_agrees_with_a_fresh_read_at_every_prefix(cut):
    answer = json.dumps({"steps": [{"step": "Check: a", "finding": 'L1 "x" fails'},
                                   {"step": "Decide: b", "finding": "no"}], "answer": {"verdict": "normal"}})
    draft = SchemaDraft(_Tok())
    draft.schema, draft.start = SCHEMA, 2
    ids = [0, 0] + [ord(c) for c in answer]
    for end in range(2, min(len(ids), 2 + cut) + 1):
        got = "".join(map(chr, draft(ids[:end])))
        assert got == next_literal(answer[:end - 2], SCHEMA)[:16]
    # a new request (start set again) reads its answer from the beginning
    draft.start = 2
    assert "".join(map(chr, draft([0, 0] + [ord(c) for c in '{"steps": [{']))) == '"step": "'
    assert literal_at(JsonCursor(SCHEMA).feed_text('{"steps": [{')) == '"step": "'
