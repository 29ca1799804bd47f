import dspy
import pytest
from dspy.utils import DummyLM

from logreasoner.programs import (
    ChainOfThoughtAnswer,
    CoarsePlanner,
    DirectAnswer,
    ExpertPlan,
    InMemoryRetriever,
    LogReasoner,
    StepReasoner,
    build_program,
    builtin_plans,
)

LOG = "INFO session opened for user alice\nERROR disk failure on /dev/sda: I/O error\nINFO session closed\n"
PLAN = {"problem_overview": "A disk error among normal session lines.",
        "key_challenges": ["few error lines"], "reasoning_steps": ["find error lines", "decide"]}
STEPS = {"steps": [{"step": "find error lines", "finding": "L2 reports an I/O error on sda", "evidence_lines": [2]},
                   {"step": "decide", "finding": "a hardware fault", "evidence_lines": [2, 77]}],
         "answer": {"verdict": "abnormal", "evidence_lines": [2]}}


def _lm(answers):
    return DummyLM(answers, adapter=dspy.JSONAdapter())


def test_log_reasoner_end_to_end_with_evidence():
    prog = LogReasoner("anomaly", retriever=InMemoryRetriever(builtin_plans()))
    lm = _lm([PLAN, STEPS])
    with dspy.context(lm=lm):
        out = prog(log=LOG, question="is the host healthy?")
    assert out.answer.verdict == "abnormal"
    assert out.plan.reasoning_steps == ["find error lines", "decide"]
    # the invented line 77 is dropped from the step it was cited in, reported, and counted as degenerate
    assert [s.evidence_lines for s in out.steps] == [[2], [2]]
    assert [ln.text for ln in out.evidence] == ["ERROR disk failure on /dev/sda: I/O error"]
    assert out.invented_lines == [77]
    assert out.degenerate == ["invented_lines"]
    assert out.expert_plans[0].id == "method-anomaly-detection"
    assert out.format_error is None
    # the retrieved plan and the fenced log reach the planner's prompt
    prompt = "\n".join(m["content"] for m in lm.history[0]["messages"])
    assert "How an expert detects anomalies" in prompt and "BEGIN LOG DATA" in prompt


def test_format_failure_is_counted_and_raw_kept():
    prog = LogReasoner("anomaly", retriever=None)
    garbage = "def f(): return 'abnormal'"
    # planner: JSON fails, chat fails -> fallback plan; steps: both adapters fail -> no answer
    lm = DummyLM([{"x": garbage}] * 4)
    with dspy.context(lm=lm):
        out = prog(log=LOG)
    assert out.answer is None
    assert "planner" in out.format_error and "step reasoner" in out.format_error
    assert out.raw


def test_chat_adapter_fallback_rescues_a_stage():
    prog = StepReasoner("anomaly")
    chat = DummyLM([{"steps": STEPS["steps"], "answer": STEPS["answer"]}] * 2)  # chat-formatted text
    with dspy.context(lm=chat):
        out = prog(log_excerpt="L1 x", plan="1. look")
    assert out.answer.verdict == "abnormal" and out.attempts == 2


def test_diagnosis_label_set_is_enforced():
    prog = build_program("coarse_to_fine_noretrieval", "diagnosis")
    lm = _lm([PLAN, {"steps": STEPS["steps"], "answer": {"label": "port down"}}])
    with dspy.context(lm=lm):
        out = prog(log="Interface GE0/0/1 changed state to down", labels=["port down", "CPU Caterr"])
    assert out.answer.label == "port down"
    bad = _lm([PLAN, {"steps": [], "answer": {"label": "made up"}}, {"steps": [], "answer": {"label": "made up"}}])
    with dspy.context(lm=bad):
        out = prog(log="Interface down", labels=["port down", "CPU Caterr"])
    assert out.answer is None and out.format_error


@pytest.mark.parametrize("cls,extra", [(DirectAnswer, {}), (ChainOfThoughtAnswer, {"reasoning": "L2 is an error"})])
def test_baselines(cls, extra):
    prog = cls("anomaly")
    with dspy.context(lm=_lm([{**extra, "answer": {"verdict": "abnormal", "evidence_lines": [2]}}])):
        out = prog(log=LOG)
    assert out.answer.verdict == "abnormal"
    assert out.evidence[0].number == 2


def test_swappable_stages_and_per_stage_lm():
    planner_lm = _lm([PLAN])
    step_lm = _lm([STEPS])
    prog = LogReasoner("anomaly", retriever=None, planner_lm=planner_lm, step_lm=step_lm)
    out = prog(log=LOG)
    assert out.answer.verdict == "abnormal"
    assert len(planner_lm.history) == 1 and len(step_lm.history) == 1


def test_custom_retriever_is_used():
    class Fixed:
        def retrieve(self, query, *, task=None, k=3):
            return [ExpertPlan(id="mine", title="My runbook", problem_overview="check disks",
                               reasoning_steps=["smartctl"])]

    prog = LogReasoner("anomaly", retriever=Fixed())
    lm = _lm([PLAN, STEPS])
    with dspy.context(lm=lm):
        out = prog(log=LOG)
    assert [p.id for p in out.expert_plans] == ["mine"]
    assert "My runbook" in lm.history[0]["messages"][-1]["content"]


def test_planner_alone():
    with dspy.context(lm=_lm([PLAN])):
        out = CoarsePlanner("rca")(log_excerpt="L1 boom", expert_plans="")
    assert out.plan.problem_overview.startswith("A disk error")


def test_unknown_program_kind():
    from logreasoner.errors import UnknownTaskError

    with pytest.raises(UnknownTaskError, match="coarse_to_fine"):
        build_program("nope", "anomaly")
