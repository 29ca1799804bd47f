"""Drain3 with LogPAI settings, and the keyword / level anomaly baselines."""

import pytest
from pydantic import ValidationError

from logreasoner.errors import ConfigError
from logreasoner.evals import metrics as M
from logreasoner.evals import sources
from logreasoner.evals.baselines import DrainParser, KeywordDetector, LevelDetector, build_baseline, drain_parse
from logreasoner.logs.drain_settings import DEFAULT, DrainSettings, settings_for
from logreasoner.evals.paths import bundled_data_dir


def test_drain_on_fixture_recovers_the_gold_template(fixtures):
    rows = sources.read_loghub_system(fixtures / "loghub", "HDFS")
    pred = drain_parse([r["Content"] for r in rows], "HDFS")
    assert pred[0] == pred[1] == pred[3] == "PacketResponder <*> for block <*> terminating"
    assert M.grouping_accuracy([r["EventTemplate"] for r in rows], pred) == 1.0


def test_drain_reproduces_the_published_hdfs_figure():
    """LogPAI report Drain GA 0.998 on HDFS-2k; the corrected labels leave it there."""
    rows = sources.read_loghub_system(bundled_data_dir() / "loghub-2k", "HDFS")
    pred = drain_parse([r["Content"] for r in rows], "HDFS")
    assert M.grouping_accuracy([r["EventTemplate"] for r in rows], pred) == pytest.approx(0.998, abs=0.005)


def test_drain_program_prepares_per_system_and_mines_unseen_lines_online(fixtures):
    rows = sources.read_loghub_system(fixtures / "loghub", "HDFS")
    prog = DrainParser()
    prog.prepare([r["Content"] for r in rows], ["HDFS"] * len(rows))
    out = prog(log=rows[0]["Content"], meta={"system": "HDFS"})
    assert out.answer.template == "PacketResponder <*> for block <*> terminating" and out.format_error is None
    new = prog(log="PacketResponder 7 for block blk_1 terminating", meta={"system": "HDFS"})
    assert new.answer.template == "PacketResponder <*> for block <*> terminating"


def test_settings_lookup_and_validation():
    assert settings_for("hdfs").regex[0] == r"blk_-?\d+"
    assert settings_for("Android").st == 0.2 and settings_for("Android").depth == 6
    assert settings_for("my-app") is DEFAULT
    with pytest.raises(ValidationError):
        DrainSettings(regex=("(unclosed",))
    with pytest.raises(ValidationError):
        DrainSettings(st=1.5)


def test_level_baseline():
    det = LevelDetector()
    assert det(log="RAS KERNEL FATAL data TLB error interrupt").answer.verdict == "abnormal"
    assert det(log="[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6").answer.verdict == "abnormal"
    assert det(log="RAS KERNEL INFO instruction cache parity error corrected").answer.verdict == "normal"
    assert det(log="the job was fatally slow").answer.verdict == "normal"
    multi = det(log="a INFO ok\nb ERROR disk\nc INFO ok\nd FATAL cpu")
    assert multi.answer.evidence_lines == [2, 4]
    assert LevelDetector(("FATAL",))(log="x ERROR y").answer.verdict == "normal"


def test_keyword_baseline():
    det = KeywordDetector()
    assert det(log="ciod: failed to read message prefix").answer.verdict == "abnormal"
    assert det(log="generating core.2275").answer.verdict == "normal"
    assert KeywordDetector(r"(?i)oops")(log="Oops!").answer.verdict == "abnormal"
    with pytest.raises(ConfigError):
        KeywordDetector("(bad")


def test_baselines_refuse_other_tasks():
    with pytest.raises(ConfigError, match="does not answer"):
        build_baseline("drain3", "anomaly")
    with pytest.raises(ConfigError, match="unknown baseline"):
        build_baseline("nope", "anomaly")
