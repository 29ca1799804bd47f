"""Loaders on small fixtures, the split, the registry, the bundle and user data."""

import json

import pytest

from logreasoner.errors import InputError
from logreasoner.evals import sources
from logreasoner.evals.bundle import LOGHUB_SYSTEMS, _loginstruct_subset
from logreasoner.evals.datasets import get_dataset, list_datasets, load_dataset, to_examples
from logreasoner.evals.paths import SHARED_ENV, bundled_data_dir
from logreasoner.evals.splits import assign_split
from logreasoner.evals.userdata import load_user_data


def test_loghub_parse_records(fixtures):
    recs = sources.loghub_parse_records(fixtures / "loghub", ("HDFS",))
    assert [r.id for r in recs] == [f"HDFS:{i}" for i in range(1, 6)]
    assert recs[0].log.startswith("PacketResponder 1 for block")
    assert recs[0].answer == "PacketResponder <*> for block <*> terminating"
    assert recs[0].meta["system"] == "HDFS"


def test_bgl_lines_do_not_leak_the_label(fixtures):
    recs = sources.bgl_line_records(fixtures / "loghub")
    assert [r.answer for r in recs] == ["normal", "abnormal", "normal", "abnormal", "normal"]
    assert not recs[1].log.startswith("KERNDTLB") and recs[1].log.startswith("1118536327")
    assert "FATAL data TLB error interrupt" in recs[1].log
    assert recs[1].meta["alert"] == "KERNDTLB"


def test_bgl_alert_categories(fixtures):
    recs = sources.bgl_alert_records(fixtures / "loghub")
    assert [r.answer for r in recs] == ["KERNDTLB", "KERNSTOR"]
    assert recs[0].labels == ["KERNDTLB", "KERNSTOR"]


def test_logeval_label_set_from_braces(fixtures):
    recs = sources.logeval_records(fixtures / "shared" / "logeval" / "fault_diagnosis_dev.jsonl")
    assert recs[0].labels == ["Processor CPU Caterr", "Memory Throttled", "Port Down"]  # de-duplicated
    assert recs[2].labels == ["Port Down", "VM Startup Failure"]
    assert recs[0].question.startswith("In our data scenario")
    assert sources.labels_in_braces("no braces here") == []


def test_loglm_records(fixtures):
    path = fixtures / "loglm.jsonl"
    rca = sources.loglm_records(path, "root_cause_analysis")
    assert len(rca) == 1 and rca[0].log.startswith("log:PermissionError") and "```" not in rca[0].log
    assert rca[0].question == "Find the cause."
    assert sources.loglm_records(path, "anomaly_detection")[0].answer == "abnormal"
    interp = sources.loglm_records(path, "log_interpretation")
    assert len(interp) == 2 and interp[0].split_key == interp[1].split_key  # same log, same split
    with pytest.raises(InputError):
        sources.loglm_records(path, "nope")


def test_loginstruct_records(fixtures):
    err = sources.loginstruct_records(fixtures / "loginstruct_is_error.jsonl", "is_error")
    assert [r.answer for r in err] == ["abnormal", "normal"]
    cause = sources.loginstruct_records(fixtures / "loginstruct_alarm_cause.jsonl", "alarm_cause")
    assert cause[0].labels == ["equipmentAlarm", "processingErrorAlarm"]
    assert cause[0].id == "loginstruct:alarm_hwwlan.json:0"
    main = sources.loginstruct_records(fixtures / "loginstruct_alarm_cause.jsonl", "main_issue")
    assert main[0].answer == "equipmentAlarm" and main[0].labels is None  # free text passes through


def test_loginstruct_subset_dedupes_and_drops_conflicts(fixtures):
    rows = _loginstruct_subset(fixtures / "loginstruct_raw" / "cause", "alarm_", limit=10)
    assert sorted(r["input"] for r in rows) == ["A/1/X: link down", "C/3/Z: cpu high"]  # h3c file not read
    assert _loginstruct_subset(fixtures / "loginstruct_raw" / "cause", "alarm_", limit=1) == rows[:1]


def test_split_is_stable_disjoint_and_complete(fixtures):
    recs = sources.loghub_parse_records(fixtures / "loghub", ("HDFS", "BGL"))
    kw = dict(dataset="x", task="parse", seed=0)
    parts = {s: to_examples(recs, split=s, **kw) for s in ("train", "dev", "test", "all")}
    ids = {s: [e["meta"]["id"] for e in v] for s, v in parts.items()}
    assert sorted(ids["train"] + ids["dev"] + ids["test"]) == sorted(ids["all"])
    assert not set(ids["train"]) & set(ids["test"])
    assert ids == {s: [e["meta"]["id"] for e in to_examples(recs, split=s, **kw)] for s in ids}  # stable
    assert len(to_examples(recs, split="all", limit=3, **kw)) == 3
    with pytest.raises(InputError):
        to_examples(recs, split="validation", **kw)


def test_split_fractions():
    counts = {"train": 0, "dev": 0, "test": 0}
    for i in range(20000):
        counts[assign_split(f"line {i}")] += 1
    assert abs(counts["train"] / 20000 - 0.6) < 0.02 and abs(counts["test"] / 20000 - 0.2) < 0.02
    assert assign_split("same") == assign_split("  same ")  # whitespace-normalised key
    assert any(assign_split(f"line {i}", seed=1) != assign_split(f"line {i}") for i in range(50))


def test_examples_shape_on_bundled_data():
    exs = load_dataset("bgl_anomaly", split="test", limit=5)
    assert len(exs) == 5
    e = exs[0]
    assert set(e.inputs().keys()) == {"log", "question", "labels"}
    assert e["answer"] in ("normal", "abnormal") and e["task"] == "anomaly" and e["labels"] is None
    assert e["meta"]["split"] == "test" and e["meta"]["dataset"] == "bgl_anomaly" and e["meta"]["system"] == "BGL"
    diag = load_dataset("bgl_alert_diagnosis", split="all")
    assert len(diag) == 143 and diag[0]["answer"] in diag[0]["labels"]


def test_registry_lists_sources_and_licences():
    names = {d.name for d in list_datasets()}
    assert {"loghub_parse", "bgl_anomaly", "bgl_templates_anomaly", "logeval_diagnosis", "bgl_alert_diagnosis",
            "loginstruct_alarm_cause", "loginstruct_is_error", "loginstruct_main_issue", "loglm_rca",
            "loglm_solution", "loglm_interpret"} <= names
    assert not get_dataset("logeval_diagnosis").bundled and get_dataset("loglm_rca").licence == "Apache-2.0"
    with pytest.raises(InputError, match="choose one of"):
        get_dataset("nope")


def test_bundle_keeps_licences_beside_the_data():
    root = bundled_data_dir()
    assert (root / "loghub-2k" / "LICENSE").read_text().startswith("LICENSE OF LOGHUB")
    assert "Apache License" in (root / "loglm" / "LICENSE").read_text()
    assert "MIT License" in (root / "loginstruct" / "NOTICE.md").read_text()
    for s in LOGHUB_SYSTEMS:
        assert (root / "loghub-2k" / s / f"{s}_2k.log_structured_corrected.csv.gz").is_file()


def test_shared_data_read_by_path(fixtures, monkeypatch, fresh_records):
    monkeypatch.setenv(SHARED_ENV, str(fixtures / "shared"))
    exs = load_dataset("logeval_diagnosis", split="all")
    assert len(exs) == 3 and all(e["answer"] in e["labels"] for e in exs)
    assert len(load_dataset("bgl_templates_anomaly", split="all")) == 3


def test_shared_data_missing_says_what_to_do(tmp_path, monkeypatch, fresh_records):
    monkeypatch.setenv(SHARED_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match=SHARED_ENV):
        load_dataset("logeval_diagnosis")


def test_user_jsonl_anomaly_with_mapped_columns(fixtures):
    exs = load_user_data(fixtures / "user_anomaly.jsonl", "anomaly", "text", "label", question_field="q")
    assert len(exs) == 8
    by_log = {e["log"]: e for e in exs}
    assert by_log["kernel: FATAL machine check on cpu 3"]["answer"] == "abnormal"
    assert by_log["kernel: FATAL machine check on cpu 3"]["question"] == "Is this bad?"
    assert by_log["ntpd: time synchronised"]["answer"] == "normal"


def test_user_csv_diagnosis_infers_the_label_set(fixtures):
    exs = load_user_data(fixtures / "user_diag.csv", "diagnosis", "entry", "fault", id_field="id")
    assert len(exs) == 4
    assert exs[0]["labels"] == ["CPU Caterr", "Memory ECC", "Port Down"]
    assert {e["meta"]["id"] for e in exs} == {"user_diag:a1", "user_diag:a2", "user_diag:a3", "user_diag:a4"}
    with pytest.raises(InputError, match="not in the label set"):
        load_user_data(fixtures / "user_diag.csv", "diagnosis", "entry", "fault", labels=["CPU Caterr"])


def test_user_data_missing_column_names_the_columns_found(fixtures):
    with pytest.raises(InputError) as e:
        load_user_data(fixtures / "user_diag.csv", "diagnosis", "log", "fault")
    assert "'log'" in str(e.value) and "entry, fault, id" in str(e.value)


def test_user_data_bad_anomaly_label(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"log": "x", "answer": "maybe"}) + "\n")
    with pytest.raises(InputError, match="not understood"):
        load_user_data(p, "anomaly", "log", "answer")
    with pytest.raises(InputError, match="not found"):
        load_user_data(tmp_path / "missing.jsonl", "anomaly", "log", "answer")
