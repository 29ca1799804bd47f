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
    items = step["schema"]["properties"]["steps"]["items"]["properties"]["evidence_lines"]["items"]
    assert sorted(items["enum"]) == sorted(shown) and 61 in shown and 5 not in shown
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
