"""The planner of a grammar-constrained model chooses one path of the task's method flowchart."""

from __future__ import annotations

import json

import dspy
import pytest

from logreasoner.contracts.answers import Plan
from logreasoner.contracts.retrieval import ExpertPlan
from logreasoner.lm.engine_base import LocalEngine
from logreasoner.lm.schema import cap_schema, untuple_schema
from logreasoner.lm.schema_draft import SchemaDraft, constant_texts
from logreasoner.programs import InMemoryRetriever, LogReasoner, builtin_plans
from logreasoner.programs.compact import CompactAdapter
from logreasoner.programs.plan_choices import PlanChoices, method_plan_choices, plan_choice_schema, plan_json
from logreasoner.programs.signatures import coarse_plan_signature, step_signature
from logreasoner.contracts.answers import AnomalyAnswer
from logreasoner.tasks import get_task

FID = get_task("anomaly").method_flowchart
OVERVIEW = "Symptom: a log line or window must be judged normal or anomalous. More text."


def _path(pid: str, *answers: str, verdict: str) -> ExpertPlan:
    steps = ["Check: identify the system - read the format"]
    steps += [f"Decide: Does a line match a known failure signature? -> {answers[0]}"]
    steps += [f"Decide: Is that signature known to be benign here? -> {a}" for a in answers[1:]]
    return ExpertPlan(id=f"{FID}:{pid}", title="How an expert detects anomalies", task="anomaly",
                      problem_overview=OVERVIEW, key_challenges=["Does a line match? (branches: yes, no)"],
                      reasoning_steps=steps + [f"Conclude: {verdict}"], source=FID)


PATHS = [_path("K1", "yes", "no", verdict="anomalous"), _path("K2", "no", verdict="normal"),
         _path("K1b", "yes", "no", verdict="anomalous")]  # the same short plan as the first: one choice


class StoreLike(InMemoryRetriever):
    """A retriever that also keeps flowcharts' templates, as the thought store does."""

    def __init__(self, plans, method):
        super().__init__(plans)
        self.method = method
        self.asked = []

    def templates(self, *, flowchart_id=None):
        self.asked.append(flowchart_id)
        return [p for p in self.method if flowchart_id is None or p.source == flowchart_id]


def test_the_choices_are_the_distinct_short_plans_of_the_tasks_method_flowchart():
    store = StoreLike(builtin_plans(), PATHS)
    choices = method_plan_choices(get_task("anomaly"), store)
    assert store.asked == [FID] and len(choices) == 2
    assert [c.reasoning_steps[-1] for c in choices] == ["Conclude: anomalous", "Conclude: normal"]
    assert choices[0].problem_overview == "A log line or window must be judged normal or anomalous"
    # nothing to choose from: a retriever without flowcharts, no retriever, a path-less flowchart
    assert method_plan_choices(get_task("anomaly"), InMemoryRetriever(builtin_plans())) == []
    assert method_plan_choices(get_task("anomaly"), None) == []
    assert method_plan_choices(get_task("anomaly"), StoreLike([], [])) == []


def test_the_schema_allows_exactly_the_choices_as_the_student_was_trained_to_write_them():
    choices = method_plan_choices(get_task("anomaly"), StoreLike([], PATHS))
    plan_schema = CompactAdapter().output_schema(coarse_plan_signature("Decide."))
    schema = cap_schema(plan_choice_schema(plan_schema, PlanChoices(tuple(choices), "paths")))
    assert len(schema["anyOf"]) == 2
    # every answer it allows, written as the compact adapter writes a training row's plan
    assert constant_texts(schema) == [plan_json(c) for c in choices]
    trained = CompactAdapter().format_assistant_message_content(coarse_plan_signature("Decide."),
                                                                 choices[1].model_dump())
    assert trained == plan_json(choices[1])
    # lm-format-enforcer (the transformers engine) reads it through untuple_schema and accepts each choice only
    from lmformatenforcer import JsonSchemaParser

    def accepts(text):
        parser = JsonSchemaParser(untuple_schema(schema))
        for ch in text:
            if ch not in parser.get_allowed_characters():
                return False
            parser = parser.add_character(ch)
        return parser.can_end()

    assert accepts(plan_json(choices[0])) and accepts(plan_json(choices[1]))
    free = plan_json(Plan(problem_overview="x", key_challenges=[], reasoning_steps=["Decide: yes: no: yes: a"]))
    assert not accepts(free)
    # other stages, and no choices: unchanged
    step_schema = CompactAdapter().output_schema(step_signature("Decide.", AnomalyAnswer))
    assert plan_choice_schema(step_schema, PlanChoices(tuple(choices), "paths")) is step_schema
    assert plan_choice_schema(plan_schema, None) is plan_schema
    assert plan_choice_schema(plan_schema, PlanChoices((), "steps")) is plan_schema


def test_llama_cpp_builds_the_grammar_of_the_choices():
    pytest.importorskip("llama_cpp")
    from logreasoner.lm.llamacpp import schema_grammar

    choices = method_plan_choices(get_task("anomaly"), StoreLike([], PATHS))
    plan_schema = CompactAdapter().output_schema(coarse_plan_signature("Decide."))
    assert schema_grammar(cap_schema(plan_choice_schema(plan_schema, PlanChoices(tuple(choices), "paths")))) is not None


class CharLlama:
    """tokenize/detokenize one byte per token: enough for the draft's bookkeeping."""

    def tokenize(self, data, add_bos=False, special=False):
        return list(data)

    def detokenize(self, ids):
        return bytes(ids)


def test_drafts_write_what_the_open_choices_share_and_stop_where_they_branch():
    choices = method_plan_choices(get_task("anomaly"), StoreLike([], PATHS))
    plan_schema = CompactAdapter().output_schema(coarse_plan_signature("Decide."))
    schema = cap_schema(plan_choice_schema(plan_schema, PlanChoices(tuple(choices), "paths")))
    a, b = (plan_json(c) for c in choices)
    branch = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    draft = SchemaDraft(CharLlama())
    draft.schema = schema
    draft.start = 0

    def drafted(text):
        return bytes(int(t) for t in draft(list(text.encode()))).decode()

    assert drafted("") == a[:16]  # the shared start, 16 tokens at a time
    assert drafted(a[:branch - 3]) == a[branch - 3:branch]  # up to the branch, not past it
    assert drafted(a[:branch + 1]) == a[branch + 1:branch + 17]  # one path left: its text
    assert drafted(a) == ""
    # a model that wrote other whitespace leaves the choices: the schema's own drafts take over (a key's colon)
    assert drafted('{ "problem_overview"') == ":"


class WordLlama:
    """A word-piece tokenizer like the model's: a space belongs to the word after it (`" yes"`), a lone space
    is a token of its own only at the end of a text."""

    def __init__(self):
        self.vocab: dict[str, int] = {}
        self.words: list[str] = []

    def tokenize(self, data, add_bos=False, special=False):
        import re

        ids = []
        for piece in re.findall(r" ?\w+| ?[^\w\s]+|\s", data.decode()):
            if piece not in self.vocab:
                self.vocab[piece] = len(self.words)
                self.words.append(piece)
            ids.append(self.vocab[piece])
        return ids

    def detokenize(self, ids):
        return "".join(self.words[i] for i in ids).encode()


def test_drafts_stop_at_the_token_where_the_paths_branch():
    """The paths share `"... signature? ->"` and go on with `" yes"` or `" no"`: the draft ends after `" ->"`
    (a drafted lone `" "` is a position the model always rejects: it writes `" yes"`, not `" "` + `"yes"`)."""
    choices = method_plan_choices(get_task("anomaly"), StoreLike([], PATHS))
    plan_schema = CompactAdapter().output_schema(coarse_plan_signature("Decide."))
    schema = cap_schema(plan_choice_schema(plan_schema, PlanChoices(tuple(choices), "paths")))
    llm = WordLlama()
    draft = SchemaDraft(llm)
    draft.schema = schema
    draft.start = 0
    a = plan_json(choices[0])
    upto = a.index("signature? ->")
    text = a[:upto]
    for _ in range(4):  # accept every draft until the branch
        got = [int(t) for t in draft(llm.tokenize(text.encode()))]
        if not got:
            break
        text += llm.detokenize(got).decode()
    assert text.endswith("signature? ->") and text == a[:upto + len("signature? ->")]
    assert llm.detokenize([int(t) for t in draft(llm.tokenize((text + " yes").encode()))]).decode().startswith('",')


class ScriptedEngine(LocalEngine):
    def __init__(self, answers):
        super().__init__()
        self.answers = list(answers)
        self.seen = []

    def _generate(self, messages, *, schema, max_tokens, temperature, stop, seed, top_p):
        self.seen.append(schema)
        return json.dumps(self.answers.pop(0)), 10, 10, "stop"


STEPS = {"steps": [{"step": "Check: identify the system", "finding": "one disk error", "evidence_lines": [2]}],
         "answer": {"verdict": "abnormal", "evidence_lines": [2]}}
LOG = "INFO heartbeat from node-1\nERROR disk failure on /dev/sda: I/O error\n"


@pytest.mark.parametrize("plan_choices", ["steps", "paths", False])
def test_the_program_asks_a_grammar_model_to_plan_with_the_methods_steps(plan_choices):
    choices = method_plan_choices(get_task("anomaly"), StoreLike([], PATHS))
    eng = ScriptedEngine([json.loads(plan_json(choices[0])), STEPS])
    lm = dspy.LM("local/scripted", engine=eng, cache=False)
    prog = LogReasoner("anomaly", retriever=StoreLike(builtin_plans(), PATHS), plan_choices=plan_choices)
    with dspy.context(lm=lm):
        out = prog(log=LOG)
    planner_schema, step_schema = eng.seen
    assert ("anyOf" in planner_schema) is (plan_choices == "paths")
    if plan_choices == "paths":
        assert constant_texts(planner_schema) == [plan_json(c) for c in choices]
    elif plan_choices == "steps":
        steps = planner_schema["properties"]["reasoning_steps"]
        assert steps["items"]["enum"] == list(dict.fromkeys(s for c in choices for s in c.reasoning_steps))
        assert (steps["minItems"], steps["maxItems"]) == (3, 4)
    else:
        assert "enum" not in json.dumps(planner_schema)
    assert out.plan.reasoning_steps == choices[0].reasoning_steps and out.answer.verdict == "abnormal"
    assert "anyOf" not in step_schema
    if plan_choices:
        store = prog.retriever
        again = ScriptedEngine([json.loads(plan_json(choices[0])), STEPS])
        with dspy.context(lm=dspy.LM("local/scripted", engine=again, cache=False)):
            prog(log=LOG)
        assert store.asked == [FID]  # the method's plans are read once per program, not per answer


def test_steps_mode_lets_the_model_compose_known_steps_only():
    from lmformatenforcer import JsonSchemaParser

    choices = method_plan_choices(get_task("anomaly"), StoreLike([], PATHS))
    plan_schema = CompactAdapter().output_schema(coarse_plan_signature("Decide."))
    schema = cap_schema(plan_choice_schema(plan_schema, PlanChoices(tuple(choices), "steps")))
    assert constant_texts(schema) == []  # the model composes: nothing to draft beyond the schema's own text

    def accepts(plan):
        parser = JsonSchemaParser(schema)
        for ch in plan_json(plan):
            if ch not in parser.get_allowed_characters():
                return False
            parser = parser.add_character(ch)
        return parser.can_end()

    a, b = choices
    mixed = Plan(problem_overview=a.problem_overview, key_challenges=a.key_challenges,
                 reasoning_steps=[a.reasoning_steps[0], b.reasoning_steps[1], a.reasoning_steps[2], b.reasoning_steps[-1]])
    assert accepts(a) and accepts(b) and accepts(mixed)  # any order of the method's steps
    garbled = mixed.model_copy(update={"reasoning_steps": ["Check: identify the system",
                                                           "Decide: Is that signature known: yes: no: yes: a"]})
    assert not accepts(garbled)
    too_short = mixed.model_copy(update={"reasoning_steps": ["Check: identify the system"]})
    assert not accepts(too_short)  # at least as many steps as the shortest path (3)


def test_an_unknown_mode_is_a_clear_error():
    from logreasoner.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown plan_choices 'tree'"):
        LogReasoner("anomaly", plan_choices="tree")
    assert LogReasoner("anomaly", plan_choices=True).plan_choices == "steps"
    assert LogReasoner("anomaly", plan_choices=None).plan_choices is None


def test_a_model_without_a_grammar_plans_in_its_own_words():
    """A hosted model (standard prompt, JSON adapter) gets no choices, and no unknown option reaches it."""
    from dspy.utils.dummies import DummyLM

    plan = {"problem_overview": "a disk fails", "key_challenges": ["noise"], "reasoning_steps": ["find errors"]}
    steps = {"steps": [{"step": "find errors", "finding": "L2 I/O error", "evidence_lines": [2]}],
             "answer": {"verdict": "abnormal", "evidence_lines": [2]}}
    lm = DummyLM([plan, steps], adapter=dspy.JSONAdapter())
    prog = LogReasoner("anomaly", retriever=StoreLike(builtin_plans(), PATHS))
    with dspy.context(lm=lm):
        out = prog(log=LOG)
    assert out.plan.reasoning_steps == ["find errors"] and out.prompt_profile == "standard"
    assert all("plan_choices" not in (h.get("kwargs") or {}) for h in lm.history)
