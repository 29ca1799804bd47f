"""``logreasoner parse``: templates, counts, the cache across runs, one-line errors."""

from __future__ import annotations

import json

import pytest

from logreasoner.cli.main import main


def run_cli(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.fixture
def log_file(tmp_path):
    p = tmp_path / "ssh.log"
    p.write_text("".join(f"Disconnected from 10.0.1.{i} port {5000 + i}\n" for i in range(20))
                 + "".join(f"Accepted password for u{i} from 10.0.0.{i} port 22 ssh2\n" for i in range(5)))
    return p


def test_parse_prints_templates_and_fills_the_cache(capsys, log_file, tmp_path):
    cache = str(tmp_path / "t.sqlite")
    code, out, err = run_cli(capsys, "parse", str(log_file), "--cache", cache)
    assert code == 0
    assert "20  drain  Disconnected from <*> port <*>" in out and "25 lines, 2 templates" in err
    code, out, _ = run_cli(capsys, "parse", str(log_file), "--cache", cache, "--json", "--lines")
    data = json.loads(out)
    assert code == 0 and data["stats"]["cache_hits"] == 25 and data["templates"][0]["origin"] == "cache"
    assert len(data["lines"]) == 25


def test_parse_errors_are_one_line(capsys, log_file, tmp_path):
    code, _, err = run_cli(capsys, "parse", str(tmp_path / "missing.log"), "--no-cache")
    assert code == 2 and err.startswith("error: file not found") and "Traceback" not in err
    code, _, err = run_cli(capsys, "parse", str(log_file), "--no-cache", "--on-mismatch", "ignore")
    assert code == 2 and "choose fallback or split" in err
    code, _, err = run_cli(capsys, "parse", str(log_file), "--no-cache", "--model", " ")
    assert code == 2 and "--model is empty" in err
