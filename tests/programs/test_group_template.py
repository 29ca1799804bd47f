"""The parse program as a group templater, end to end with a dummy model (programs.group_template)."""

from __future__ import annotations

import dspy
from dspy.utils import DummyLM

from logreasoner.logs.batch_parse import BatchParser
from logreasoner.logs.template_store import TemplateStore
from logreasoner.parsing import parse_lines
from logreasoner.programs.group_template import ProgramTemplater

LINES = [f"Disconnected from 10.0.1.{i} port {5000 + i}" for i in range(8)]


def _lm(template: str, n: int = 4) -> DummyLM:
    return DummyLM([{"answer": {"template": template}}] * n, adapter=dspy.JSONAdapter())


def test_program_templater_runs_the_parse_program_once_per_group(tmp_path):
    lm = _lm("Disconnected from <*> port <*>")
    templater = ProgramTemplater(lm)
    r = BatchParser(templater, store=TemplateStore(tmp_path / "t.sqlite")).parse(LINES, system="ssh")
    assert templater.calls == 1 and templater.format_errors == 0
    assert r.templates == ["Disconnected from <*> port <*>"] * 8 and set(r.origins) == {"model"}
    prompt = str(lm.history[-1]["messages"])
    assert "10.0.1.0" in prompt and "one log template" in prompt  # several lines, the group question


def test_parse_lines_api_with_a_model_and_warm_cache(tmp_path):
    cache = tmp_path / "t.sqlite"
    first = parse_lines(LINES, model=_lm("Disconnected from <*> port <*>"), system="ssh", cache=cache)
    assert first.stats.model_calls == 1
    lm = _lm("never asked")
    second = parse_lines(LINES + ["Disconnected from 1.2.3.4 port 9"], model=lm, system="ssh", cache=cache)
    assert second.stats.model_calls == 0 and second.stats.cache_hits == 9 and not lm.history


def test_a_format_failure_falls_back_to_drain():
    lm = DummyLM([{"x": "no template here"}] * 8)
    templater = ProgramTemplater(lm)
    r = BatchParser(templater).parse(LINES, system="ssh")
    assert templater.format_errors == 1 and set(r.origins) == {"drain"}
