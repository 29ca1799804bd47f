"""Issue 14, items 7, 8 and 9, and fuzzing of the Mermaid and JSON flowchart parsers.

- 7: template ids have a bounded size (a long chain no longer grows the store with its square), and charts
  over the size limits are refused with a clear error.
- 8: a ``--db`` that is not a thought store (garbage, truncated, a folder, another app's SQLite) is exit 2,
  the file named, nothing written to it.
- 9: ``thoughts import --lenient`` skips an unparsable chart and reports it.
- Property-based: the parsers raise ``FlowchartError`` (an ``InputError``) or return a chart; a returned chart
  survives the canonical round trip.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from logreasoner.cli.main import main
from logreasoner.errors import InputError, LogReasonerError
from logreasoner.thoughts_db import ThoughtStore
from logreasoner.thoughts_db.graph import FlowchartError
from logreasoner.thoughts_db.jsonio import from_json
from logreasoner.thoughts_db.mermaid import parse_mermaid, to_mermaid

FIXTURES = Path(__file__).parent / "fixtures"


def chain_chart(n: int, chart_id: str = "long-chain") -> str:
    """A valid chart: a symptom, ``n`` checks in a row, one conclusion."""
    rows = ["---", f"id: {chart_id}", "title: A long chain", "tasks: [rca]", "---", "flowchart TD",
            "  S0([Symptom: service down])"]
    prev = "S0"
    for i in range(1, n + 1):
        rows.append(f"  {prev} --> C{i}[Check: step number {i} of the chain]")
        prev = f"C{i}"
    rows.append(f"  {prev} --> K1((Conclusion: found it))")
    return "\n".join(rows) + "\n"


def cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


# -- item 7: bounded ids and size limits --------------------------------------------------------------------------------
def test_template_ids_stay_short_on_a_long_chain(tmp_path: Path) -> None:
    chart = tmp_path / "chain.mmd"
    chart.write_text(chain_chart(400))
    db = tmp_path / "t.db"
    with ThoughtStore(db, embeddings=False) as store:
        empty = db.stat().st_size
        res = store.import_flowcharts(chart)
        assert res.flowcharts == ["long-chain"] and res.templates == 1
        (t,) = store.templates(flowchart_id="long-chain")
        assert len(t.id) <= len("long-chain:") + 80
        assert len(t.provenance) == 401 and t.node_path[-1] == "K1"
        assert store.get_template(t.id).id == t.id
        with sqlite3.connect(db) as con:
            longest = con.execute("SELECT max(length(template_id)) FROM provenance").fetchone()[0]
    assert longest <= 100
    assert db.stat().st_size + Path(str(db) + "-wal").stat().st_size - empty < 2_000_000


def test_short_paths_keep_their_readable_ids(store, disk_full_path: Path) -> None:
    store.import_flowcharts(disk_full_path)
    assert "fixture-disk-full:S0-C1-D1-A1-D3-K1" in {t.id for t in store.templates()}


def test_a_chart_over_the_node_limit_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    chart = tmp_path / "huge.mmd"
    chart.write_text(chain_chart(4000, "huge-chain"))
    code, _, err = cli(capsys, "thoughts", "--db", str(tmp_path / "t.db"), "--lexical", "import", str(chart))
    assert code == 2 and "too large" in err and "huge" in err and "Traceback" not in err


def test_a_chart_file_over_the_byte_limit_is_refused_before_parsing(tmp_path: Path, store) -> None:
    chart = tmp_path / "big.mmd"
    body = chain_chart(3)
    chart.write_text(body + "%% " + "x" * 2_000_000 + "\n")
    with pytest.raises(FlowchartError, match="too large"):
        store.import_flowcharts(chart)


# -- item 8: a --db that is not a thought store --------------------------------------------------------------------
def _sqlite_db(path: Path) -> bytes:
    with ThoughtStore(path, embeddings=False) as s:
        s.import_flowcharts(FIXTURES / "disk_full.mmd")
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["garbage", "truncated", "folder", "text"])
def test_a_db_that_is_not_a_store_is_exit_2_and_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                            kind: str) -> None:
    db = tmp_path / "store.db"
    if kind == "garbage":
        db.write_bytes(bytes(range(256)) * 64)
    elif kind == "truncated":
        whole = _sqlite_db(tmp_path / "whole.db")
        db.write_bytes(whole[: len(whole) // 2])
    elif kind == "folder":
        db.mkdir()
    else:
        db.write_text("id,title\n1,not a database\n" * 200)
    before = None if kind == "folder" else hashlib.sha256(db.read_bytes()).hexdigest()
    for command in (["list"], ["stats"], ["import", str(FIXTURES / "disk_full.mmd")]):
        code, _, err = cli(capsys, "thoughts", "--db", str(db), "--lexical", *command)
        assert code == 2, err
        assert str(db) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    if before is not None:
        assert hashlib.sha256(db.read_bytes()).hexdigest() == before
        assert not Path(str(db) + "-wal").exists()


def test_another_apps_sqlite_file_is_not_touched(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE x (a)")
    con.commit()
    con.close()
    before = db.read_bytes()
    with pytest.raises(LogReasonerError, match="not a thought store") as e:
        ThoughtStore(db, embeddings=False)
    assert e.value.exit_code == 2 and db.read_bytes() == before


# -- item 9: lenient imports skip what they cannot parse -----------------------------------------------------------------
def test_lenient_import_skips_an_unparsable_chart(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "charts"
    folder.mkdir()
    (folder / "a_good.mmd").write_text((FIXTURES / "disk_full.mmd").read_text())
    (folder / "b_unparsable.mmd").write_text("---\nid: bad\n---\nflowchart TD\n  S0([Symptom: x]) -->> ???\n")
    (folder / "c_not_utf8.mmd").write_bytes(b"---\nid: latin\n---\n\xff\xfe\n")
    (folder / "d_invalid.mmd").write_text((FIXTURES / "broken.mmd").read_text())
    (folder / "e_bad.json").write_text("{not json")
    code, out, err = cli(capsys, "thoughts", "--db", str(tmp_path / "t.db"), "--lexical", "import", "--lenient",
                         str(folder))
    assert code == 0, err
    assert "imported 1 flowchart(s)" in out
    for name in ("b_unparsable.mmd", "c_not_utf8.mmd", "d_invalid.mmd", "e_bad.json"):
        assert f"skipped: {folder / name}" in err
    code, _, err = cli(capsys, "thoughts", "--db", str(tmp_path / "t2.db"), "--lexical", "import", str(folder))
    assert code == 2 and "b_unparsable.mmd" in err  # strict (the default) still stops, all or nothing


# -- fuzzing --------------------------------------------------------------------------------------------------------
_MERMAID_BITS = ["---\n", "id: fz\n", "id: 3\n", "title: t\n", "tasks: [rca]\n", "tasks: [nope]\n", "1: x\n",
                 "when: 2024-01-01\n", "flowchart TD\n", "graph LR\n", "S0([Symptom: a])", "C1[Check: b]", "D1{c?}",
                 "A1[/Act/]", "K1((End))", " --> ", " -- yes --> ", " -->|no| ", " & ", "%% c\n", "\n", ";", '"',
                 "[[", "((", "{{", "#quot;", "#99999999;", "S0", "C1", "K1", "D1", ":::cls", "subgraph x\n", "end\n"]
mermaid_texts = st.lists(st.one_of(st.sampled_from(_MERMAID_BITS), st.text(max_size=5)), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=mermaid_texts)
@example("---\n1: x\nid: fz\n---\nflowchart TD\n  S0([Symptom: a])\n")  # a key that is not a name
@example("---\nid: fz\nwhen: 2024-01-01\n---\nflowchart TD\n  S0([Symptom: a])\n")  # a YAML date
def test_mermaid_parser_raises_only_flowchart_errors(text: str) -> None:
    try:
        fc = parse_mermaid(text, source_name="fuzz.mmd")
    except FlowchartError as e:
        assert isinstance(e, InputError) and e.message
        return
    again = parse_mermaid(to_mermaid(fc))  # whatever parses survives the canonical round trip
    assert to_mermaid(again) == to_mermaid(fc)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=4), max_leaves=20)
node = st.fixed_dictionaries({"id": st.sampled_from(["S0", "C1", "K1", "bad id", 3, None]),
                              "kind": st.sampled_from(["symptom", "check", "conclusion", "decision", "nope", 1]),
                              "text": st.one_of(st.text(max_size=8), st.integers(), st.none())})
edge = st.fixed_dictionaries({"source": st.sampled_from(["S0", "C1", "K1", "X"]),
                              "target": st.sampled_from(["S0", "C1", "K1", "X"]),
                              "condition": st.one_of(st.none(), st.text(max_size=4), st.integers())})
charts = st.fixed_dictionaries({
    "graph": st.one_of(json_values, st.fixed_dictionaries({"id": st.sampled_from(["fz", "Bad Id", "", 7]),
                                                           "tasks": st.one_of(json_values, st.just(["rca"]))})),
    "nodes": st.one_of(json_values, st.lists(node, max_size=5)),
    "edges": st.one_of(json_values, st.lists(edge, max_size=5)),
    "directed": st.one_of(st.booleans(), json_values),
    "multigraph": st.one_of(st.booleans(), json_values),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(charts, json_values, st.text(max_size=40)))
def test_json_parser_raises_only_flowchart_errors(data) -> None:  # noqa: ANN001
    text = data if isinstance(data, str) else json.dumps(data)
    try:
        fc = from_json(text, source_name="fuzz.json")
    except FlowchartError as e:
        assert e.message
        return
    assert from_json(fc.to_json()) == fc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mermaid_texts)
def test_lenient_import_never_crashes(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "x.mmd").write_text(text, encoding="utf-8", errors="surrogatepass")
    with ThoughtStore(folder / "t.db", embeddings=False) as store:
        res = store.import_flowcharts(folder / "x.mmd", strict=False)
    assert len(res.flowcharts) + len(res.skipped) == 1
