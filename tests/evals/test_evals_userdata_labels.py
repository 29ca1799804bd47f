"""User data whose rows carry their own label sets (--labels-field), and files that would score 1.0 trivially."""

import csv
import json

import dspy
import pytest
from typer.testing import CliRunner

from logreasoner.errors import InputError
from logreasoner.evals.cli import app
from logreasoner.evals.userdata import load_user_data
from logreasoner.contracts.answers import DiagnosisAnswer

HW = ["CPU Caterr", "Memory ECC", "Disk failure"]
NET = ["Port down", "Link flapping"]
ROWS = [  # LogEval-style: a hardware set and a network set in one file
    {"id": "h1", "log": "CPU0 IERR asserted", "answer": "CPU Caterr", "choices": HW},
    {"id": "h2", "log": "DIMM A1 uncorrectable ECC", "answer": "Memory ECC", "choices": "|".join(HW)},
    {"id": "n1", "log": "Link down on port 7", "answer": "Port down", "choices": NET},
    {"id": "n2", "log": "port 9 up/down 12 times in 60 s", "answer": "link flapping",
     "choices": "Port down|Link flapping"},
]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_each_row_keeps_its_own_label_set(tmp_path):
    exs = load_user_data(_jsonl(tmp_path / "mixed.jsonl", ROWS), "diagnosis", "log", "answer",
                         labels_field="choices", id_field="id")
    by_id = {e.meta["id"]: e for e in exs}
    assert by_id["mixed:h1"]["labels"] == HW and by_id["mixed:h2"]["labels"] == HW
    assert by_id["mixed:n1"]["labels"] == NET
    # the gold takes its set's spelling ("link flapping" -> "Link flapping")
    assert by_id["mixed:n2"].answer == "Link flapping" and by_id["mixed:n2"]["labels"] == NET


def test_label_sets_from_csv_text(tmp_path):
    p = tmp_path / "d.csv"
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["log", "answer", "choices"])
        w.writerow(["a", "x", '["x", "y, with comma"]'])  # a JSON list written as text
        w.writerow(["b", "q", "p,q"])  # no '|': commas separate
    exs = load_user_data(p, "diagnosis", "log", "answer", labels_field="choices")
    assert [e["labels"] for e in exs] == [["x", "y, with comma"], ["p", "q"]]


@pytest.mark.parametrize("row, message", [
    ({"id": "n3", "log": "x", "answer": "Port down"}, "record 5 (id 'n3') has no 'choices' field"),
    ({"id": "n3", "log": "x", "answer": "Port down", "choices": []},
     "record 5 (id 'n3'): its label set 'choices' is empty"),
    ({"id": "n3", "log": "x", "answer": "Port down", "choices": "  "}, "is empty"),
    ({"id": "n3", "log": "x", "answer": "Fan failure", "choices": NET},
     "record 5 (id 'n3'): its gold 'answer' 'Fan failure' is not in its label set"),
    ({"id": "n3", "log": "x", "answer": "Port down", "choices": ["Port down"]}, "holds one label"),
])
def test_bad_row_label_sets_name_the_row_and_the_fix(tmp_path, row, message):
    p = _jsonl(tmp_path / "bad.jsonl", ROWS + [row])
    with pytest.raises(InputError) as e:
        load_user_data(p, "diagnosis", "log", "answer", labels_field="choices", id_field="id")
    assert message in str(e.value)
    assert e.value.hint  # every message says what to do


def test_labels_field_column_missing_and_both_options(tmp_path):
    p = _jsonl(tmp_path / "d.jsonl", ROWS)
    with pytest.raises(InputError, match="the labels column 'options' is missing") as e:
        load_user_data(p, "diagnosis", "log", "answer", labels_field="options")
    assert "--labels-field" in e.value.hint and "choices" in e.value.hint
    with pytest.raises(InputError, match="not both"):
        load_user_data(p, "diagnosis", "log", "answer", labels=HW, labels_field="choices")


def test_one_distinct_gold_without_labels_is_refused(tmp_path):
    rows = [{"log": f"port {i} down", "answer": "Port down"} for i in range(5)]
    p = _jsonl(tmp_path / "one.jsonl", rows)
    with pytest.raises(InputError, match="every gold 'answer' is 'Port down'") as e:
        load_user_data(p, "diagnosis", "log", "answer")
    assert "--labels" in e.value.hint
    exs = load_user_data(p, "diagnosis", "log", "answer", labels=NET)  # with the real set it runs
    assert exs[0]["labels"] == NET


def test_cli_labels_field_scores_each_row_against_its_set(tmp_path, monkeypatch):
    import logreasoner.evals.resolve as resolve
    import logreasoner.programs as programs

    seen = {}

    class FirstLabel(dspy.Module):  # answers the first label of the row's set
        def forward(self, log, question=None, labels=None):
            seen[log] = labels
            return dspy.Prediction(answer=DiagnosisAnswer(label=labels[0]), format_error=None, raw=None)

    monkeypatch.setattr(programs.resolve, "build_program", lambda kind, task, **kw: FirstLabel())
    monkeypatch.setattr(resolve, "load_model", lambda spec: dspy.utils.DummyLM([{"x": "y"}]))
    data = _jsonl(tmp_path / "mixed.jsonl", ROWS)
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["run", "--data", str(data), "--task", "diagnosis", "--labels-field", "choices",
                                 "--id-field", "id", "--program", "direct", "--model", "openai/fake",
                                 "--out", str(out), "--no-progress", "--bootstrap", "20"])
    assert r.exit_code == 0, r.output
    assert seen["CPU0 IERR asserted"] == HW and seen["Link down on port 7"] == NET
    cell = json.loads((out / "results.json").read_text())["cells"][0]
    assert cell["done"] == 4 and cell["score"] == 0.5  # h1 and n1 are their set's first label
    config = json.loads((out / "config.json").read_text())
    assert config["user_data"]["labels_field"] == "choices"


def test_cli_refuses_a_single_gold_file_without_labels(tmp_path):
    p = _jsonl(tmp_path / "one.jsonl", [{"log": f"l{i}", "answer": "Port down"} for i in range(3)])
    r = CliRunner().invoke(app, ["run", "--data", str(p), "--task", "diagnosis", "--program", "majority",
                                 "--out", str(tmp_path / "x"), "--no-progress"])
    assert r.exit_code != 0 and isinstance(r.exception, InputError)
    assert "--labels" in r.exception.hint
