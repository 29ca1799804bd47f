"""Flowcharts: Mermaid and JSON parsing, round trips, validation errors."""

from __future__ import annotations

import json

import networkx as nx
import pytest

from logreasoner.errors import InputError
from logreasoner.thoughts_db import (
    Flowchart,
    FlowchartError,
    NodeKind,
    from_json,
    library_files,
    load_flowchart,
    parse_mermaid,
    render_tree,
    to_json,
    to_mermaid,
    validate,
)

HEAD = "---\nid: t\ntitle: T\ntasks: [anomaly]\n---\n"


def chart(body: str) -> Flowchart:
    return parse_mermaid(HEAD + body)


def test_fixture_parses_with_kinds_labels_and_chains(disk_full):
    g = disk_full.graph
    assert disk_full.id == "fixture-disk-full"
    assert disk_full.meta.tasks == ["anomaly", "rca"]
    assert disk_full.meta.keywords == ["No space left on device", "DiskOutOfSpaceException"]
    assert disk_full.entry == "S0"
    assert disk_full.kind("S0") is NodeKind.symptom
    assert disk_full.kind("A1") is NodeKind.action
    assert disk_full.kind("K1") is NodeKind.conclusion
    assert disk_full.kind("D2") is NodeKind.decision
    assert disk_full.text("D2") == "Inodes exhausted (df -i)?"  # quoted text keeps its parentheses
    assert g.edges["D1", "A1"]["condition"] == "yes"  # "-- yes -->"
    assert g.edges["D1", "C2"]["condition"] == "no"  # "-->|no|"
    assert g.edges["C1", "D1"]["condition"] is None  # chained "C1[..] --> D1{..}"
    assert g.number_of_nodes() == 10 and g.number_of_edges() == 10


def test_all_edge_syntaxes_groups_comments_and_ignored_lines():
    fc = chart(
        "flowchart LR\n"
        "  %% a comment line\n"
        "  classDef red fill:#f00\n"
        "  S0([Symptom: x]) --> C1[Check: a] --> D1{ok?}   %% trailing comment\n"
        "  D1 -- yes --> K1((Conclusion: fine))\n"
        "  D1 -->|no| A1[/Action: fix/]:::red\n"
        "  D1 -. maybe .-> C2[Check: b];\n"
        "  A1 & C2 ==> K2((Conclusion: fixed))\n"
        "  class A1 red\n"
    )
    assert fc.condition("D1", "K1") == "yes"
    assert fc.condition("D1", "A1") == "no"
    assert fc.condition("D1", "C2") == "maybe"
    assert fc.graph.has_edge("A1", "K2") and fc.graph.has_edge("C2", "K2")
    assert [n for n, *_ in fc.iter_nodes()] == ["S0", "C1", "D1", "K1", "A1", "C2", "K2"]
    assert validate(fc).ok


def test_entities_and_special_characters_round_trip():
    fc = Flowchart({"id": "chars", "title": "Quotes \"and\" # hashes: yes", "tasks": ["rca"], "systems": ["yes"],
                    "keywords": ["0x10", "a, b", "blk_"], "source": "", "reviewed_by": ["ops"]})
    fc.add_node("S0", "symptom", 'Symptom: "quoted" [brackets] {braces} (parens) | pipe # hash %% not a comment')
    fc.add_node("D1", "decision", "error count > 10?")
    fc.add_node("K1", "conclusion", "Conclusion: a/b\\c")
    fc.add_node("K2", "conclusion", "Conclusion: ok")
    fc.add_edge("S0", "D1")
    fc.add_edge("D1", "K1", "count > 10 | \"many\"")
    fc.add_edge("D1", "K2", "no")
    text = to_mermaid(fc)
    back = parse_mermaid(text)
    assert back == fc
    assert to_mermaid(back) == text  # canonical text is a fixed point
    assert back.meta.extras() == {"reviewed_by": ["ops"]}
    assert back.meta.keywords == ["0x10", "a, b", "blk_"]  # YAML would read a bare 0x10 as 16


def test_mermaid_and_json_round_trips_exact(disk_full):
    assert parse_mermaid(to_mermaid(disk_full)) == disk_full
    assert from_json(to_json(disk_full)) == disk_full
    assert parse_mermaid(to_mermaid(from_json(to_json(disk_full)))) == disk_full
    assert to_json(from_json(to_json(disk_full))) == to_json(disk_full)


def test_json_is_networkx_node_link(disk_full):
    data = json.loads(to_json(disk_full))
    g = nx.node_link_graph(data, edges="edges")
    assert set(g.edges) == set(disk_full.graph.edges)
    assert g.graph["id"] == "fixture-disk-full"
    # older networkx writes "links"
    data["links"] = data.pop("edges")
    assert from_json(data) == disk_full


def test_flowchart_equality_sees_differences(disk_full):
    other = disk_full.copy()
    assert other == disk_full
    other.graph.nodes["C1"]["text"] = "Check: something else"
    assert other != disk_full
    assert disk_full.copy(title="x") != disk_full


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("flowchart TD\n  S0([Symptom: x]) --> C1\n", "node C1 is used but never given a shape"),
        ("flowchart TD\n  S0([Symptom: x]) --> H1{{hexagon}}\n", "hexagon"),
        ("flowchart TD\n  S0([Symptom: x]) --> R1(round)\n", "rounded rectangle"),
        ("flowchart TD\n  S0([Symptom: x]) --- C1[Check: y]\n", "not a directed arrow"),
        ("flowchart TD\n  S0([Symptom: x])\n  S0[Check: y]\n", "declared twice"),
        ("flowchart TD\n  S0([Symptom: x]) --> C1[Check: y]\n  S0 --> C1\n", "duplicate edge S0 -> C1"),
        ("flowchart TD\n  C1[]\n", "empty text"),
        ("sequenceDiagram\n  A->>B: hi\n", "expected 'flowchart TD'"),
        ("flowchart TD\n  S0([Symptom: x\n", "not closed"),
    ],
)
def test_parse_errors_name_the_line_and_node(body, fragment):
    with pytest.raises(FlowchartError) as ei:
        chart(body)
    assert fragment in str(ei.value)
    assert isinstance(ei.value, InputError)


def test_front_matter_errors():
    with pytest.raises(FlowchartError, match="no front matter"):
        parse_mermaid("flowchart TD\n  S0([x])\n")
    with pytest.raises(FlowchartError, match="tasks"):
        parse_mermaid("---\nid: a\ntasks: [nosuchtask]\n---\nflowchart TD\n  S0([x])\n")
    with pytest.raises(FlowchartError, match="not a slug"):
        parse_mermaid("---\nid: Bad Id\n---\nflowchart TD\n  S0([x])\n")
    with pytest.raises(FlowchartError, match="not closed"):
        parse_mermaid("---\nid: a\nflowchart TD\n")
    # task aliases normalise to registered names
    fc = parse_mermaid("---\nid: a\ntasks: [fault_diagnosis, log_parsing]\n---\nflowchart TD\n  S0([x])\n")
    assert fc.meta.tasks == ["diagnosis", "parse"]


def test_json_errors():
    with pytest.raises(FlowchartError, match="not valid JSON"):
        from_json("{nope")
    with pytest.raises(FlowchartError, match="no 'nodes'"):
        from_json({"graph": {"id": "a"}, "nodes": []})
    with pytest.raises(FlowchartError, match="unknown node 'Z'"):
        from_json({"graph": {"id": "a"}, "nodes": [{"id": "A", "kind": "symptom", "text": "x"}],
                   "edges": [{"source": "A", "target": "Z"}]})
    with pytest.raises(FlowchartError, match="unknown node kind"):
        from_json({"graph": {"id": "a"}, "nodes": [{"id": "A", "kind": "banana", "text": "x"}]})


def _codes(fc):
    rep = validate(fc)
    return {(i.code, i.node) for i in rep.errors}, {(i.code, i.node) for i in rep.warnings}, rep


def test_validation_errors_on_broken_fixture():
    fc = load_flowchart(__import__("pathlib").Path(__file__).parent / "fixtures" / "broken.mmd")
    errors, _warnings, rep = _codes(fc)
    assert ("unreachable", "X9") in errors
    assert ("decision", "D1") in errors
    msgs = " | ".join(e.message for e in rep.errors)
    assert "node X9 is not reachable from the entry S0" in msgs
    assert "decision D1 has 1 outgoing edge(s)" in msgs
    assert "the edge to K1 has no label" in msgs
    with pytest.raises(FlowchartError, match="fixture-broken is invalid"):
        rep.raise_for_errors()


@pytest.mark.parametrize(
    "body, code, node",
    [
        ("C1[Check: a] --> K1((Conclusion: b))\n", "entry", None),
        ("S0([Symptom: a]) --> K1((Conclusion: b))\n  S1([Symptom: c]) --> K1\n", "entry", "S1"),
        ("S0([Symptom: a]) --> C1[Check: b] --> S0\n  C1 --> K1((Conclusion: c))\n", "entry", "S0"),
        ("S0([Symptom: a]) --> C1[Check: b]\n", "conclusion", None),
        ("S0([Symptom: a]) --> C1[Check: b]\n  K1((Conclusion: c)) --> C1\n", "conclusion", "S0"),
        ("S0([Symptom: a]) --> K1((Conclusion: b)) --> C1[Check: c]\n", "conclusion", "K1"),
        ("S0([Symptom: a]) --> D1{q?}\n  D1 -- yes --> K1((Conclusion: b))\n  D1 -- Yes --> K2((Conclusion: c))\n",
         "decision", "D1"),
    ],
)
def test_structural_errors_name_the_node(body, code, node):
    errors, _w, rep = _codes(chart("flowchart TD\n  " + body))
    assert (code, node) in errors, rep.errors


def test_cycles_and_dead_ends_are_warnings(disk_full):
    errors, warnings, rep = _codes(disk_full)
    assert not errors
    assert ("cycle", "C1") in warnings
    assert "cycle C1 -> D1 -> A1 -> D3 -> C1" in rep.warnings[0].message
    fc = chart("flowchart TD\n  S0([Symptom: a]) --> D1{q?}\n  D1 -- yes --> K1((Conclusion: b))\n"
               "  D1 -- no --> A1[/Action: reboot/]\n")
    errors, warnings, _ = _codes(fc)
    assert not errors and ("dead-end", "A1") in warnings


def test_render_tree_marks_revisits(disk_full):
    text = render_tree(disk_full)
    assert text.splitlines()[0].startswith("S0 (symptom)")
    assert "[no] -> C1 (see above)" in text
    assert "[yes] K2 (conclusion) Conclusion: inode exhaustion" in text
    assert "|--" in render_tree(disk_full, ascii_only=True) or "`--" in render_tree(disk_full, ascii_only=True)


def test_shipped_library_parses_validates_and_round_trips():
    files = library_files()
    assert len(files) >= 40, "the package must ship the flowchart library (thoughts_db/library/*.mmd)"
    ids = set()
    for f in files:
        fc = load_flowchart(f)
        rep = validate(fc)
        assert rep.ok, f"{f.name}: {[e.message for e in rep.errors]}"
        assert fc.id not in ids, f"duplicate id {fc.id}"
        ids.add(fc.id)
        assert parse_mermaid(to_mermaid(fc)) == fc, f.name
        assert from_json(to_json(fc)) == fc, f.name
    from logreasoner.tasks import list_tasks

    for t in list_tasks():
        if t.method_flowchart and len(files) >= 30:
            assert t.method_flowchart in ids, f"method flowchart of {t.name} missing"
