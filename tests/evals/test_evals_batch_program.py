"""The batch parser as an eval program (evals.batch_program): prepared like Drain3, one parse per system."""

import dspy
import pytest
from dspy.utils import DummyLM

from logreasoner.errors import ConfigError
from logreasoner.evals.batch_program import BatchParseProgram
from logreasoner.evals.resolve import parse_program
from logreasoner.evals.checkpoint import read_samples
from logreasoner.evals.runner import RunConfig, run_eval

SSH = [f"Disconnected from 10.0.1.{i} port {5000 + i}" for i in range(6)]
WEB = [f"GET /static/app{i}.js returned 200 in {i + 3} ms" for i in range(4)]


def _lm(template: str, n: int = 20) -> DummyLM:
    return DummyLM([{"answer": {"template": template}}] * n, adapter=dspy.JSONAdapter())


def _ask(prog, lm, line, system):
    with dspy.context(lm=lm):
        return prog(log=line, meta={"system": system})


def test_each_system_is_parsed_once_and_each_answer_says_where_it_came_from():
    prog = BatchParseProgram()
    prog.prepare(SSH + WEB, ["ssh"] * len(SSH) + ["web"] * len(WEB))
    lm = _lm("Disconnected from <*> port <*>")
    first = _ask(prog, lm, SSH[0], "ssh")
    assert first.answer.template == "Disconnected from <*> port <*>" and first.origin == "model"
    assert first.format_error is None
    calls = len(lm.history)
    assert calls == 1  # one group, one ask
    assert first.parsed_group["model_calls"] == 1 and first.parsed_group["lines"] == len(SSH)
    again = _ask(prog, lm, SSH[3], "ssh")
    assert again.answer.template == "Disconnected from <*> port <*>" and "parsed_group" not in again
    assert len(lm.history) == calls  # read from the system's parse
    # the same answer does not fit the other system's lines: Drain's template, marked as such
    web = _ask(prog, lm, WEB[1], "web")
    assert web.origin == "drain" and web.answer.template.startswith("GET ") and "<*>" in web.answer.template
    assert prog.stats["ssh"].model_templates == 1 and prog.stats["web"].fallback_lines == len(WEB)


def test_a_line_not_shown_in_prepare_is_parsed_with_its_system():
    prog = BatchParseProgram()
    prog.prepare(SSH[:3], ["ssh"] * 3)
    lm = _lm("Disconnected from <*> port <*>")
    _ask(prog, lm, SSH[0], "ssh")
    late = _ask(prog, lm, "Disconnected from 10.9.9.9 port 22", "ssh")
    assert late.answer.template == "Disconnected from <*> port <*>"
    empty = _ask(prog, lm, "  ", "ssh")
    assert empty.answer is None and "no log line" in empty.format_error


def test_program_names():
    spec = parse_program("batch_parse")
    assert spec.needs_lm and spec.supports("parse") and not spec.supports("anomaly")
    assert isinstance(spec.build("parse"), BatchParseProgram) and spec.build("parse").inner == "direct"
    assert parse_program("batch_parse:cot").build("parse").inner == "cot"
    with pytest.raises(ConfigError, match="batch_parse"):
        parse_program("batch_parse:drain3")


def test_the_runner_prepares_it_like_drain_and_scores_it_on_the_same_lines(tmp_path):
    cfg = RunConfig(datasets=["loghub_parse", "bgl_anomaly"], programs=["batch_parse", "drain3"], limit=6,
                    models=["dummy"], bootstrap=20, plots=False)
    lms = []

    def factory(spec):
        lms.append(DummyLM([{"answer": {"template": "no such template <*>"}}] * 2000, adapter=dspy.JSONAdapter()))
        return lms[-1]

    res = run_eval(cfg, tmp_path / "run", progress=False, lm_factory=factory)
    cells = {(c["program"], c["dataset"]): c for c in res["cells"]}
    assert set(cells) == {("batch_parse", "loghub_parse"), ("drain3", "loghub_parse")}
    # every answer failed the check, so every template is Drain's: the two score the same on the same lines
    assert cells[("batch_parse", "loghub_parse")]["metrics"] == cells[("drain3", "loghub_parse")]["metrics"]
    recs = [r for r in read_samples(tmp_path / "run" / "samples.jsonl") if r["program"] == "batch_parse"]
    assert len(recs) == 6 and {r["trace"]["origin"] for r in recs} == {"drain"}
    # the model was asked once per group of each system that had a line to answer, by that line's example
    assert sum(r["usage"]["lm_calls"] for r in recs) > 6
