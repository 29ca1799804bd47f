"""The compact prompt format for grammar-constrained local models, prompt profiles, and output hygiene."""

from __future__ import annotations

import json

import dspy
import pytest

from logreasoner.lm.engine_base import LocalEngine
from logreasoner.programs import LogReasoner, build_program, builtin_plans, InMemoryRetriever
from logreasoner.contracts.answers import AnomalyAnswer, Plan, StepResult
from logreasoner.programs.compact import CompactAdapter, restrict_line_numbers, shown_line_numbers
from logreasoner.programs.hygiene import clean_outputs, echoes_marker
from logreasoner.programs.profile import COMPACT, STANDARD, active_profile
from logreasoner.programs.signatures import coarse_plan_signature, step_signature

LOG = "\n".join(f"INFO heartbeat {i} from node-{i % 3}" for i in range(60)) + \
      "\nERROR disk failure on /dev/sda: I/O error\nINFO session closed\n"


class ScriptedEngine(LocalEngine):
    """An in-process engine (so: grammar-constrained, compact prompts) that answers from a script and records
    what it was asked."""

    def __init__(self, answers):
        super().__init__()
        self.answers = list(answers)
        self.seen = []

    def _generate(self, messages, *, schema, max_tokens, temperature, stop, seed, top_p):
        self.seen.append({"messages": messages, "schema": schema})
        return json.dumps(self.answers.pop(0)), 10, 10, "stop"


def _lm(answers):
    eng = ScriptedEngine(answers)
    return dspy.LM("local/scripted", engine=eng, cache=False), eng


PLAN = {"problem_overview": "A disk error.", "key_challenges": ["few errors", "few errors"],
        "reasoning_steps": ["find error lines", "BEGIN LOG DATA", "decide"]}
STEPS = {"steps": [{"step": "find error lines", "finding": "L61 reports an I/O error", "evidence_lines": [61]},
                   {"step": "find error lines", "finding": "L61 reports an I/O error", "evidence_lines": [61]},
                   {"step": "decide", "finding": "abnormal", "evidence_lines": [61]}],
         "answer": {"verdict": "abnormal", "evidence_lines": [61]}}


def test_local_engine_gets_the_compact_prompt_and_a_schema_with_the_shown_lines_only():
    lm, eng = _lm([PLAN, STEPS])
    prog = LogReasoner("anomaly", retriever=InMemoryRetriever(builtin_plans()))
    with dspy.context(lm=lm):
        out = prog(log=LOG)
    assert out.prompt_profile == "compact" and out.answer.verdict == "abnormal"
    planner, step = eng.seen
    text = "\n".join(m["content"] for m in step["messages"])
    # no schema or field descriptions in the prompt; the instruction once, as the system turn
    assert "Your input fields" not in text and "json" not in text.lower() and "[[ ##" not in text
    assert step["messages"][0]["role"] == "system" and text.count("Carry out the plan") == 1
    assert "Log:\nBEGIN LOG DATA\n" in text and "untrusted text" not in text
    # one condensed expert plan reaches the planner
    ptext = "\n".join(m["content"] for m in planner["messages"])
    assert "Expert plan:\nHow an expert detects anomalies\n1." in ptext
    # the decoder's schema only allows the line numbers the excerpt shows
    shown = shown_line_numbers(out.excerpt)
    steps = step["schema"]["properties"]["steps"]
    for item in steps["items"]:
        lines = item["properties"]["evidence_lines"]["items"]
        assert sorted(lines["enum"]) == sorted(shown) and 61 in shown and 5 not in shown
    # one step per distinct plan step, named by the plan (the repeat and the echoed marker get none)
    assert [it["properties"]["step"]["const"] for it in steps["items"]] == ["find error lines", "decide"]
    assert steps["minItems"] == steps["maxItems"] == 2
    # hygiene: repeated items and the echoed marker are gone from what the user gets, and counted
    assert out.plan.key_challenges == ["few errors"] and "BEGIN LOG DATA" not in out.plan.reasoning_steps
    assert len(out.steps) == 2
    assert out.degenerate == ["marker_echo", "repeated_items"]


def test_compact_prompts_are_several_times_shorter_than_json_prompts():
    prog = build_program("direct", "diagnosis")
    sig = prog.predict.signature
    inputs = {"question": "", "log_excerpt": "BEGIN LOG DATA\nL1 eth0 link down\nEND LOG DATA"}
    labelled = prog.task.answer_model(["port down", "CPU Caterr", "VM startup failure"])
    sig = sig.with_updated_fields("answer", type_=labelled)
    compact = "\n".join(m["content"] for m in CompactAdapter().format(sig, [], inputs))
    full = "\n".join(m["content"] for m in dspy.JSONAdapter().format(sig, [], inputs))
    assert len(full) > 3 * len(compact)
    assert "Labels: port down | CPU Caterr | VM startup failure" in compact


def test_restrict_line_numbers():
    schema = AnomalyAnswer.model_json_schema()
    out = restrict_line_numbers(schema, [3, 7])
    assert out["properties"]["evidence_lines"]["items"] == {"type": "integer", "enum": [3, 7]}
    none = restrict_line_numbers(schema, [])
    assert none["properties"]["evidence_lines"]["maxItems"] == 0
    assert shown_line_numbers("BEGIN\n(2 lines)\nL3 [x2] a\nL7 b\nfile.log:L9 c\nEND") == [3, 7, 9]


def test_profiles_follow_the_adapter_and_the_model():
    lm, _ = _lm([])
    with dspy.context(lm=lm):
        assert active_profile() is COMPACT
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):  # an explicit adapter wins
        assert active_profile() is STANDARD
    from dspy.utils import DummyLM

    with dspy.context(lm=DummyLM([{}])):
        assert active_profile() is STANDARD
    with dspy.context(adapter=CompactAdapter()):
        assert active_profile() is COMPACT


def test_compact_profile_shortens_the_excerpt():
    def word(i: int, k: int) -> str:
        return "".join(chr(97 + (i * 7 + k * 11 + j * 3) % 26) for j in range(6))

    big = "\n".join("ERROR " + " ".join(word(i, k) for k in range(12 + i % 9)) for i in range(120))
    prog = build_program("direct", "anomaly")
    with dspy.context(adapter=CompactAdapter()):
        small = prog._excerpt(big, None)
    with dspy.context(adapter=dspy.JSONAdapter()):
        large = prog._excerpt(big, None)
    assert len(small.text) <= COMPACT.excerpt_chars + 200 < len(large.text)


def test_hygiene_filters_the_typed_answers_evidence():
    ans = AnomalyAnswer(verdict="abnormal", evidence_lines=[1, 2, 3, 4, 5])
    plan, steps, answer, why = clean_outputs(plan=Plan(problem_overview="x"), steps=[
        StepResult(step="a", finding="b", evidence_lines=[1, 9])], answer=ans, shown={1})
    assert answer.evidence_lines == [1] and steps[0].evidence_lines == [1] and why == ["invented_lines"]
    assert echoes_marker("BEGIN  EXECUTIVE LOG DATA") and echoes_marker("END\u00a0LOG DATA")
    assert not echoes_marker("the log shows data loss")


@pytest.mark.parametrize("kind", ["direct", "cot"])
def test_baselines_get_compact_prompts_and_clean_answers_too(kind):
    answer = {"verdict": "abnormal", "evidence_lines": [61, 999]}
    lm, eng = _lm([{"reasoning": "L61 shows a disk error", "answer": answer} if kind == "cot" else {"answer": answer}])
    prog = build_program(kind, "anomaly")
    with dspy.context(lm=lm):
        out = prog(log=LOG)
    assert out.answer.evidence_lines == [61] and out.invented_lines == [999]
    assert "invented_lines" in out.degenerate
    schema = eng.seen[0]["schema"]["properties"]["answer"]["properties"]["evidence_lines"]
    assert 999 not in schema["items"]["enum"]


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _flat(messages) -> str:
    return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages)


def test_prefix_layout_makes_planner_and_step_prompts_share_the_excerpt():
    """The engine's layout decides the adapter: with 'compact-prefix' the planner's and the step reasoner's prompts
    start with the same system turn, question and excerpt (llama.cpp then evaluates it once), and each stage's
    instruction comes last; with 'compact' the prompts differ from the first token."""
    seen = {}
    for layout in ("compact", "compact-prefix"):
        lm, eng = _lm([PLAN, STEPS])
        eng.prompt_layout = layout
        prog = LogReasoner("anomaly", retriever=InMemoryRetriever(builtin_plans()))
        with dspy.context(lm=lm):
            out = prog(log=LOG, question="is the disk failing?")
        assert out.answer.verdict == "abnormal"
        seen[layout] = [_flat(s["messages"]) for s in eng.seen]
    planner, step = seen["compact-prefix"]
    shared = _common_prefix(planner, step)
    assert planner[:shared].endswith("END LOG DATA\n\n")           # system + question + the whole excerpt
    assert "is the disk failing?" in planner[:shared] and "ERROR disk failure" in planner[:shared]
    assert step.rstrip("</user>").split("\n\n")[-1].startswith("Task: Carry out the plan")
    old_planner, old_step = seen["compact"]
    assert _common_prefix(old_planner, old_step) < 40 and "\n\nTask: " not in old_step
    # the same inputs otherwise: only the instruction moved
    assert len(step) - len(old_step) < 250


def test_unknown_layout_is_a_clear_error():
    from logreasoner.errors import ConfigError

    with pytest.raises(ConfigError, match="compact-prefix"):
        CompactAdapter(layout="compact-v9")


def test_a_student_trained_on_the_json_adapter_is_asked_with_it():
    from logreasoner.programs.calling import default_adapters

    lm, eng = _lm([])
    eng.prompt_layout = "json"
    with dspy.context(lm=lm):
        assert [type(a).__name__ for a in default_adapters()] == ["JSONAdapter"]
    eng.prompt_layout = None
    with dspy.context(lm=lm):
        (a,) = default_adapters()
        assert isinstance(a, CompactAdapter) and a.layout == "compact"


def test_pin_plan_steps_names_one_step_per_distinct_plan_step():
    from logreasoner.contracts.answers import Plan
    from logreasoner.programs.compact import pin_plan_steps
    from logreasoner.programs.plan_text import plan_steps_of, step_name

    plan = Plan(problem_overview="x", key_challenges=["y"], reasoning_steps=[
        "Check: identify the system", "Decide: Does a line match a known failure signature -> no",
        "Check: identify the system", "BEGIN LOG DATA", "Conclude: normal"])
    steps = plan_steps_of(plan.render())
    assert steps == plan.reasoning_steps  # read back from the rendered plan the step stage gets
    schema = CompactAdapter().output_schema(step_signature("Decide whether the lines are abnormal.", AnomalyAnswer))
    pinned = pin_plan_steps(schema, steps)
    items = pinned["properties"]["steps"]["items"]
    assert [it["properties"]["step"]["const"] for it in items] == [
        "Check: identify the system", "Decide: Does a line match a", "Conclude: normal"]
    assert step_name(steps[1]) == "Decide: Does a line match a"  # the experts' names: no decision, <= 32 chars
    assert pinned["properties"]["steps"]["minItems"] == pinned["properties"]["steps"]["maxItems"] == 3
    from logreasoner.programs.compact import FINDING_CHARS

    # a finding at most as long as the experts write them (80 characters) and a little more, not a loop to the cap
    assert {it["properties"]["finding"]["maxLength"] for it in items} == {FINDING_CHARS}
    assert pin_plan_steps(schema, []) is schema and pin_plan_steps(schema, ["BEGIN LOG DATA"]) is schema
    plan_schema = CompactAdapter().output_schema(coarse_plan_signature("Decide whether the lines are abnormal."))
    assert pin_plan_steps(plan_schema, steps) is plan_schema  # no steps list: unchanged


def test_a_pinned_step_list_is_decoded_as_a_tuple_by_both_engines_schemas():
    from logreasoner.lm.schema import cap_schema, longest_output, untuple_schema
    from logreasoner.lm.schema_draft import next_literal
    from logreasoner.programs.compact import pin_plan_steps

    schema = cap_schema(pin_plan_steps(CompactAdapter().output_schema(step_signature("Decide whether the lines are abnormal.", AnomalyAnswer)),
                                       ["Check: the lines", "Conclude: normal"]))
    steps = schema["properties"]["steps"]
    assert all(it["properties"]["finding"]["maxLength"] <= 300 for it in steps["items"])  # each item capped
    assert longest_output(schema) > 2 * 300
    # llama.cpp drafts: the first name, and after each step the next one, then the end of the list
    assert next_literal("{", schema) == '"steps": [{"step": "Check: the lines"'
    one = '{"steps": [{"step": "Check: the lines", "finding": "x", "evidence_lines": []}'
    assert next_literal(one, schema) == ', {"step": "Conclude: normal"'
    two = one + ', {"step": "Conclude: normal", "finding": "y", "evidence_lines": []}'
    assert next_literal(two, schema) == "]"
    # lm-format-enforcer reads one item schema: a union of the tuple's, the length kept
    flat = untuple_schema(schema)["properties"]["steps"]
    assert len(flat["items"]["anyOf"]) == 2 and flat["minItems"] == flat["maxItems"] == 2
