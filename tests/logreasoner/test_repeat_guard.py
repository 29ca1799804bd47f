"""The decode-time guard against loops inside JSON string values (logreasoner.lm.repeat_guard)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logreasoner.lm.repeat_guard import RepeatGuard

# a toy vocabulary: structure tokens, and words that may follow one another inside a string
VOCAB = ['{"', 'text', 'items', '": "', '": ["', '", "', '"]}', '"}', ' such', ' ->', ' no', ',', ' yes', ' disk',
         ' full', ' on', ' /var', '."', '{"a": [{"b": "', '"}, {"b": "', '"}]}']
T = {p: i for i, p in enumerate(VOCAB)}


def guard(n: int = 4) -> RepeatGuard:
    return RepeatGuard(lambda t: VOCAB[t], n=n)


def feed(g: RepeatGuard, *pieces: str) -> RepeatGuard:
    for p in pieces:
        g.accept(T[p])
    return g


def test_a_loop_inside_a_string_is_banned_but_the_closing_quote_never_is():
    g = feed(guard(), '{"', 'text', '": "', ' such', ' ->', ' no', ',', ' such', ' ->', ' no')
    assert g.banned() == [T[',']]  # ' such -> no ,' again
    g = feed(guard(), '{"', 'text', '": "', ' such', ' ->', ' no', '."', '", "')
    assert g.banned() == []  # a new value starts with nothing to repeat
    g = feed(guard(), '{"', 'text', '": "', ' such', ' ->', ' no', '."')
    assert not g._json.in_string


def test_keys_and_the_json_around_strings_are_never_guarded():
    g = feed(guard(n=2), '{"', 'text', '": "', ' such', '", "', 'text')  # the key 'text' again
    assert g.banned() == []
    g = feed(guard(n=2), '{"', 'text', '": "', ' such', '"}')
    assert g.banned() == []


def test_an_item_of_a_list_may_not_repeat_a_run_of_an_earlier_item():
    words = [' disk', ' full', ' on', ' /var', ' yes', ' no']
    g = feed(guard(n=4), '{"', 'items', '": ["', *words, '", "', *words[:5])
    assert g.banned() == [T[' no']]  # six tokens of the first item
    g = feed(guard(n=4), '{"', 'items', '": ["', *words, '", "', *words[:4])
    assert g.banned() == []  # an item may begin like the one before it


def test_strings_inside_objects_of_a_list_are_not_siblings():
    words = [' disk', ' full', ' on', ' /var', ' yes', ' no']
    g = feed(guard(n=4), '{"a": [{"b": "', *words, '"}, {"b": "', *words[:5])
    assert g.banned() == []


def test_the_size_must_make_sense():
    with pytest.raises(ValueError, match="at least 2"):
        RepeatGuard(lambda t: "", n=1)


def repeated_ngram(tokens: list[int], n: int) -> bool:
    """True when some run of ``n`` tokens occurs twice in ``tokens``."""
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return len(grams) != len(set(grams))


def _strings(pieces: list[str]) -> list[list[str]]:
    """The word tokens of each string value in a toy answer (the fixed structure below writes them)."""
    out, cur = [], None
    for p in pieces:
        if p in ('": "', '": ["'):
            cur = []
        elif p in ('", "', '"]}'):
            out.append(cur)
            cur = [] if p == '", "' else None
        elif cur is not None:
            cur.append(p)
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=10, max_size=120), st.integers(2, 5))
def test_a_guarded_sampler_never_writes_a_loop(choices, n):
    """Whatever a model prefers, the guarded pick writes no string with a repeated n-gram, no list item with an
    (n+2)-gram of an earlier item."""
    words = [' such', ' ->', ' no', ',', ' yes', ' disk']
    g = guard(n)
    pieces = ['{"', 'items', '": ["']
    feed(g, *pieces)
    for c in choices:
        banned = set(g.banned())
        if c == 5 and len(pieces) > 4:  # the model closes the item
            p = '", "'
        else:
            allowed = [w for w in words if T[w] not in banned]
            p = allowed[c % len(allowed)] if allowed else '", "'
        g.accept(T[p])
        pieces.append(p)
    pieces.append('"]}')
    g.accept(T['"]}'])
    items = _strings(pieces)
    ids = [[T[w] for w in item] for item in items]
    assert not any(repeated_ngram(item, n) for item in ids)
    m = n + 2
    for j, item in enumerate(ids):
        grams = {tuple(item[i:i + m]) for i in range(len(item) - m + 1)}
        for earlier in ids[:j]:
            assert not grams & {tuple(earlier[i:i + m]) for i in range(len(earlier) - m + 1)}


@pytest.mark.model
def test_the_embedded_model_stops_looping_under_the_guard(base_gguf):
    from logreasoner.lm.llamacpp import LlamaCppEngine
    from logreasoner.lm.schema import cap_schema

    path = base_gguf
    schema = cap_schema({"type": "object", "required": ["text"],
                         "properties": {"text": {"type": "string", "maxLength": 300}}})
    msgs = [{"role": "user", "content": "Write the words 'no, such' again and again. Answer in JSON."}]
    texts = {}
    for n in (0, 4):
        eng = LlamaCppEngine(str(path), n_threads=2, chat_format="chatml", repeat_guard=n)
        text, _, n_out, _ = eng._generate(msgs, schema=schema, max_tokens=400, temperature=0.0, stop=None,
                                          seed=None, top_p=None)
        texts[n] = (json.loads(text)["text"], n_out, eng._llm.repeat_guard)
        eng.close()
    looped, guarded = texts[0], texts[4]
    assert looped[0].count("such") > 20  # without the guard the untuned model loops to the string's cap
    assert guarded[2].bans > 0
    assert guarded[0].count("such") < looped[0].count("such") / 2, guarded[0]
