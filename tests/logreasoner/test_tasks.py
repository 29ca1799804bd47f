import pytest
from pydantic import BaseModel, ValidationError

from logreasoner.errors import UnknownTaskError
from logreasoner.tasks import Task, get_task, list_tasks, register_task, rouge_l, template_match


def test_builtin_tasks_and_aliases():
    names = {t.name for t in list_tasks()}
    assert {"anomaly", "diagnosis", "rca", "parse", "interpret"} <= names
    assert get_task("fault_diagnosis").name == "diagnosis"


def test_unknown_task_lists_known_ones():
    with pytest.raises(UnknownTaskError) as e:
        get_task("nope")
    assert "anomaly" in e.value.hint


def test_label_set_narrows_answer_type():
    t = get_task("diagnosis")
    with pytest.raises(UnknownTaskError, match="needs a label set"):
        t.answer_model(None)
    M = t.answer_model(["port down", "CPU Caterr"])
    assert M(label="port down").label == "port down"
    with pytest.raises(ValidationError):
        M(label="disk")
    assert M.model_json_schema()["properties"]["label"]["enum"] == ["port down", "CPU Caterr"]


def test_metrics():
    assert template_match("a <*> b", "a  <*> <*> b") == 1.0
    assert template_match("a <*> b", "a c b") == 0.0
    assert rouge_l("the disk failed", "the disk failed") == pytest.approx(1.0)
    assert 0 < rouge_l("the disk failed badly", "disk failed") < 1


def test_register_custom_task():
    class Sev(BaseModel):
        level: str

    t = register_task(Task(name="severity-test", description="Rate severity.", answer_type=Sev, primary_field="level"),
                      replace=True)
    assert get_task("severity-test") is t
    assert t.score("high", Sev(level="HIGH")) == 1.0
    with pytest.raises(UnknownTaskError, match="primary field"):
        register_task(Task(name="bad-test", description="", answer_type=Sev, primary_field="nope"))


def test_label_set_comes_from_the_call_the_task_or_the_answer_type():
    from logreasoner.tasks import get_task

    assert get_task("anomaly").label_set() == ["normal", "abnormal"]  # the verdict's Literal
    assert get_task("diagnosis").label_set(["port down", "CPU Caterr"]) == ["port down", "CPU Caterr"]
    assert get_task("diagnosis").label_set() == [] and get_task("rca").label_set() == []
