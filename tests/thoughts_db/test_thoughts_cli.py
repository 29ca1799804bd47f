"""``logreasoner thoughts ...`` through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from logreasoner.errors import InputError
from logreasoner.thoughts_db import load_flowchart
from logreasoner.thoughts_db.cli import app

runner = CliRunner()


def run(db, *args, ok=True):
    res = runner.invoke(app, ["--db", str(db), "--lexical", *args])
    if ok:
        assert res.exit_code == 0, (res.output, res.exception)
    return res


def test_cli_import_list_show_search_stats_export(tmp_path, disk_full_path):
    db = tmp_path / "cli.db"
    out = run(db, "import", str(disk_full_path)).output
    assert "imported 1 flowchart(s), 3 template(s)" in out and "warning:" in out and "cycle" in out

    out = run(db, "list").output
    assert "fixture-disk-full" in out and "anomaly,rca" in out and "1 flowchart(s)" in out
    rows = json.loads(run(db, "list", "--json").stdout)
    assert rows[0]["templates"] == 3
    assert "no flowcharts" in run(db, "list", "--task", "parse").output

    out = run(db, "show", "fixture-disk-full").output
    assert "S0 (symptom) Symptom: writes fail" in out  # the text tree
    assert "```mermaid" in out and "D1 -->|yes| A1" in out  # the Mermaid source
    assert "fixture-disk-full:S0-C1-D1-A1-D3-K1" in out  # the templates
    mermaid = run(db, "show", "fixture-disk-full", "--format", "mermaid").stdout
    assert mermaid.startswith("---\nid: fixture-disk-full")
    out = run(db, "show", "fixture-disk-full:S0-C1-D1-A1-D3-K1", "--template").output
    assert "provenance: step 1 <- fixture-disk-full:C1" in out

    out = run(db, "search", "inode usage exhausted", "--task", "rca", "-k", "2").output
    assert "fixture-disk-full:S0-C1-D1-C2-D2-K2" in out
    res = json.loads(run(db, "search", "inode", "--json", "-k", "1").stdout)
    assert res[0]["source"] == "fixture-disk-full"
    assert "no matching plan" in run(db, "search", "zzzz", "--task", "parse").output

    stats = json.loads(run(db, "stats", "--json").stdout)
    assert stats["flowcharts"] == 1 and stats["templates"] == 3 and stats["retrievals_recorded"] == 0
    assert "schema_version" in run(db, "stats").output

    for fmt, suffix in (("mermaid", "mmd"), ("json", "json")):
        out_dir = tmp_path / fmt
        assert "wrote 1 file(s)" in run(db, "export", "--format", fmt, "--out", str(out_dir)).output
        assert load_flowchart(out_dir / f"fixture-disk-full.{suffix}") == load_flowchart(disk_full_path)


def test_cli_errors_are_logreasoner_errors(tmp_path, disk_full_path):
    db = tmp_path / "e.db"
    run(db, "import", str(disk_full_path))
    res = run(db, "show", "nope", ok=False)
    assert res.exit_code != 0 and isinstance(res.exception, InputError)
    res = run(db, "import", str(tmp_path / "missing.mmd"), ok=False)
    assert isinstance(res.exception, InputError)
    res = run(db, "export", "--format", "svg", "--out", str(tmp_path / "x"), ok=False)
    assert isinstance(res.exception, InputError) and "unknown export format" in str(res.exception)


def test_cli_lenient_import_skips_broken(tmp_path, disk_full_path):
    broken = disk_full_path.parent / "broken.mmd"
    db = tmp_path / "l.db"
    res = run(db, "import", str(broken), ok=False)
    assert "X9 is not reachable" in str(res.exception)
    out = run(db, "import", "--lenient", str(disk_full_path.parent)).output
    assert "skipped:" in out and "imported 1 flowchart(s)" in out


@pytest.mark.parametrize("cmd", [["list"], ["stats"]])
def test_cli_default_db_from_cache_dir(tmp_path, monkeypatch, cmd):
    monkeypatch.setenv("LOGREASONER_CACHE_DIR", str(tmp_path))
    res = runner.invoke(app, ["--lexical", *cmd])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "thoughts.db").exists()
