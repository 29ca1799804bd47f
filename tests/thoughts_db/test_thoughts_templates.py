"""Flowchart -> thought templates (deterministic), and the DSPy abstraction with a dummy LM."""

from __future__ import annotations

import dspy
import pytest
from dspy.utils import DummyLM

from logreasoner.errors import InputError
from logreasoner.contracts.retrieval import ExpertPlan
from logreasoner.thoughts_db import (
    FlowchartError,
    ThoughtAbstractor,
    ThoughtTemplate,
    abstract_flowchart,
    abstract_rationale,
    flowchart_paths,
    flowchart_to_plans,
    parse_mermaid,
    scrub_instance_details,
)


def test_one_template_per_path_with_provenance(disk_full):
    plans = flowchart_to_plans(disk_full)
    assert [p.id for p in plans] == [
        "fixture-disk-full:S0-C1-D1-C2-D2-K2",
        "fixture-disk-full:S0-C1-D1-C2-D2-K3",
        "fixture-disk-full:S0-C1-D1-A1-D3-K1",
    ]
    p = plans[2]
    assert isinstance(p, ExpertPlan) and isinstance(p, ThoughtTemplate)
    assert p.reasoning_steps == [
        "Check: disk usage of the data directories",
        "Decide: Is a volume above 95%? -> yes",
        "Act: free space or add a volume",
        "Decide: Do writes succeed now? -> yes",
        "Conclude: the disk was full",
    ]
    assert p.key_challenges == ["Is a volume above 95%? (branches: yes / no)",
                                "Do writes succeed now? (branches: yes / no)"]
    assert "writes fail with No space left on device" in p.problem_overview
    assert "the disk was full" in p.problem_overview and "HDFS (DataNode)" in p.problem_overview
    assert [(pr.step, pr.flowchart_id, pr.node_ids) for pr in p.provenance] == [
        (0, "fixture-disk-full", ["C1"]), (1, "fixture-disk-full", ["D1"]), (2, "fixture-disk-full", ["A1"]),
        (3, "fixture-disk-full", ["D3"]), (4, "fixture-disk-full", ["K1"]),
    ]
    assert p.node_path == ["S0", "C1", "D1", "A1", "D3", "K1"]
    assert p.source == "fixture-disk-full" and p.task == "anomaly"
    assert p.tags == ["task:anomaly", "task:rca", "system:HDFS", "component:DataNode"]
    # no instance of the loop back to C1 (simple paths only)
    assert all(len(set(x.node_path)) == len(x.node_path) for x in plans)


def test_derivation_is_deterministic(disk_full):
    a = [p.model_dump() for p in flowchart_to_plans(disk_full)]
    b = [p.model_dump() for p in flowchart_to_plans(parse_mermaid(disk_full.to_mermaid()))]
    assert a == b


def test_path_cap_keeps_every_conclusions_shortest_path_first():
    # a ladder of 6 binary decisions: 2**6 paths to K1, plus one short path to K2
    lines = ["flowchart TD", "  S0([Symptom: s]) --> D0{q0?}", "  D0 -- skip --> K2((Conclusion: short))"]
    prev = "D0"
    for i in range(1, 7):
        lines += [f"  {prev} -- a --> A{i}[Check: a{i}]", f"  {prev} -- b --> B{i}[Check: b{i}]",
                  f"  A{i} --> D{i}{{q{i}?}}", f"  B{i} --> D{i}"]
        lines += [f"  D{i} -- stop --> K2"] if i < 6 else []
        prev = f"D{i}"
    lines += [f"  {prev} -- a --> K1((Conclusion: long))", f"  {prev} -- b --> K2"]
    fc = parse_mermaid("---\nid: ladder\ntasks: [rca]\n---\n" + "\n".join(lines))
    paths = flowchart_paths(fc, max_paths=5)
    assert len(paths) == 5
    assert {p[-1] for p in paths[:2]} == {"K1", "K2"}  # each conclusion gets its shortest path first
    assert paths[0] == ["S0", "D0", "K2"] or paths[1] == ["S0", "D0", "K2"]
    assert len(flowchart_to_plans(fc, max_paths=5)) == 5


def test_invalid_chart_raises_unless_lenient():
    fc = parse_mermaid("---\nid: bad\n---\nflowchart TD\n  S0([Symptom: a]) --> D1{q?}\n"
                       "  D1 --> K1((Conclusion: b))\n  D1 --> K2((Conclusion: c))\n")
    with pytest.raises(FlowchartError, match="edge to K1 has no label"):
        flowchart_to_plans(fc)
    plans = flowchart_to_plans(fc, strict=False)
    assert len(plans) == 2 and plans[0].reasoning_steps[0] == "Decide: q?"


def test_chart_without_decisions_still_has_a_challenge():
    fc = parse_mermaid("---\nid: lin\n---\nflowchart TD\n  S0([Symptom: a]) --> C1[Check: b] --> K1((Conclusion: c))\n")
    (p,) = flowchart_to_plans(fc)
    assert p.key_challenges == ["Finding the evidence: b"]


def test_scrub_instance_details():
    s = scrub_instance_details("at 2005-06-03 15:42:50 from 10.1.2.3:50010 blk_-1608999687919862906 0x1f val 12345")
    assert s == "at <*> from <*> val <*>"  # adjacent details collapse into one <*>
    assert scrub_instance_details("check the DataNode log") == "check the DataNode log"


_ANSWER = {
    "title": "Disk full on host 10.0.0.5",
    "problem_overview": "Writes fail at 2005-06-03 15:42:50 because a data volume is full.",
    "key_challenges": ["Telling a full volume from inode exhaustion", "block blk_-123456 is missing"],
    "reasoning_steps": ["Check disk usage of the data directories", "Check inode usage",
                        "Conclude whether the disk was full"],
}


def test_abstract_flowchart_with_dummy_lm(disk_full):
    lm = DummyLM([_ANSWER])
    t = abstract_flowchart(disk_full, lm=lm)
    assert t.origin == "abstracted" and t.id == "abstract:fixture-disk-full"
    assert t.title == "Disk full on host <*>"
    assert t.problem_overview == "Writes fail at <*> because a data volume is full."
    assert t.key_challenges[1] == "block <*> is missing"
    assert t.reasoning_steps[0] == "Check disk usage of the data directories"
    # provenance aligned to the nodes with the most words in common
    assert [p.node_ids for p in t.provenance] == [["C1"], ["C2"], ["K1"]]
    assert t.systems == ["HDFS"] and t.tasks == ["anomaly", "rca"]
    prompt = lm.history[-1]["messages"][-1]["content"]
    assert "D3 (decision) Do writes succeed now?" in prompt  # the chart was given to the LM as a text tree


def test_abstract_rationale_uses_context_lm_and_task():
    lm = DummyLM([_ANSWER])
    with dspy.context(lm=lm):
        t = abstract_rationale("I saw 'No space left on device' on dn228, ran df, the volume was 100% full.",
                               task="root_cause_analysis", systems=["HDFS"], source="example-17")
    assert t.tasks == ["rca"] and t.systems == ["HDFS"] and t.source == "example-17"
    assert t.id.startswith("abstract:") and t.flowchart_id is None and t.provenance == []
    assert "rca: Find the root cause" in lm.history[-1]["messages"][-1]["content"]


def test_abstractor_rejects_empty_input_and_empty_output():
    with pytest.raises(InputError, match="nothing to abstract"):
        ThoughtAbstractor(lm=DummyLM([_ANSWER]))(analysis="  ")
    empty = {"title": "", "problem_overview": "", "key_challenges": [], "reasoning_steps": []}
    with pytest.raises(InputError, match="empty template"):
        ThoughtAbstractor(lm=DummyLM([empty]))(analysis="something happened")
