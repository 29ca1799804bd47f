"""Batch parsing: grouping, the check of every model template, the warm cache (logreasoner.logs.batch_parse)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from logreasoner.errors import ConfigError, InputError
from logreasoner.logs.batch_parse import BatchParser, BatchParseSettings, clean_template, diverse_sample
from logreasoner.logs.template_store import TemplateStore

LINES = (
    [f"Accepted password for user{i % 3} from 10.0.0.{i} port {4000 + i} ssh2" for i in range(12)]
    + [f"Disconnected from 10.0.1.{i} port {5000 + i}" for i in range(8)]
    + [f"Connection closed by 10.0.2.{i} [preauth]" for i in range(6)]
)
GOOD = {"Accepted": "Accepted password for <*> from <*> port <*> ssh2",
        "Disconnected": "Disconnected from <*> port <*>",
        "Connection": "Connection closed by <*> [preauth]"}


class CountingTemplater:
    """A stand-in model: answers from a table by the first word, counts every call."""

    name = "fake/templater"

    def __init__(self, answers=None):
        self.answers = answers or GOOD
        self.calls = 0
        self.seen = []

    def __call__(self, lines):
        self.calls += 1
        self.seen.append(list(lines))
        return self.answers.get(lines[0].split()[0])


def test_groups_are_asked_once_each_with_diverse_lines():
    fake = CountingTemplater()
    r = BatchParser(fake, settings=BatchParseSettings(sample_lines=3)).parse(LINES, system="ssh")
    assert fake.calls == 3 and r.stats.groups == 3
    assert all(len(s) == 3 and len(set(s)) == 3 for s in fake.seen)
    assert r.templates[0] == GOOD["Accepted"] and r.templates[-1] == GOOD["Connection"]
    assert set(r.origins) == {"model"} and r.stats.model_templates == 3 and r.stats.fallback_lines == 0


def test_without_a_model_the_templates_are_drains():
    r = BatchParser(None).parse(LINES, system="ssh")
    assert set(r.origins) == {"drain"} and len(set(r.templates)) == 3
    assert r.templates[12] == "Disconnected from <*> port <*>"


def test_a_template_that_does_not_fit_every_line_falls_back_to_drain():
    bad = dict(GOOD, Accepted="Accepted password for user0 from <*> port <*> ssh2")  # user kept constant
    r = BatchParser(CountingTemplater(bad), settings=BatchParseSettings(reconcile=False)).parse(LINES, system="ssh")
    assert r.stats.rejected == 1 and r.stats.fallback_lines == 12
    assert r.templates[0] == "Accepted password for <*> from <*> port <*> ssh2" and r.origins[0] == "drain"
    assert r.origins[12] == "model"
    # reconciled with Drain's template token by token, the same answer passes (user0 -> Drain's <*>)
    r = BatchParser(CountingTemplater(bad)).parse(LINES, system="ssh")
    assert r.stats.reconciled == 1 and r.origins[0] == "model" and r.templates[0] == GOOD["Accepted"]


def test_split_mode_keeps_the_lines_that_fit_and_asks_again_for_the_rest():
    answers = iter(["Accepted password for user0 from <*> port <*> ssh2",
                    "Accepted password for <*> from <*> port <*> ssh2"])
    calls = []

    def templater(lines):
        calls.append(lines)
        return next(answers) if lines[0].startswith("Accepted") else None

    settings = BatchParseSettings(on_mismatch="split", reconcile=False)
    r = BatchParser(templater, settings=settings).parse(LINES[:12], system="ssh")
    assert len(calls) == 2 and r.stats.split_groups == 1
    assert r.templates[0] == "Accepted password for user0 from <*> port <*> ssh2"
    assert r.templates[1] == "Accepted password for <*> from <*> port <*> ssh2"


@pytest.mark.parametrize("answer", ["<*>", "<*> <*> <*>", "", None, "from <*>"])
def test_templates_that_say_nothing_are_rejected(answer):
    r = BatchParser(lambda lines: answer).parse(LINES[12:20], system="ssh")
    assert r.origins == ["drain"] * 8 and r.stats.model_calls == 1 and r.stats.rejected == 1


def test_warm_cache_makes_no_model_calls(tmp_path):
    store = TemplateStore(tmp_path / "templates.sqlite")
    fake = CountingTemplater()
    cold = BatchParser(fake, store=store).parse(LINES, system="ssh")
    assert fake.calls == 3
    warm_fake = CountingTemplater()
    more = [f"Disconnected from 10.9.9.{i} port {i}" for i in range(50)]  # new lines, known template
    warm = BatchParser(warm_fake, store=TemplateStore(tmp_path / "templates.sqlite")).parse(LINES + more, "ssh")
    assert warm_fake.calls == 0 and warm.stats.cache_hits == len(LINES) + 50
    assert warm.templates[: len(LINES)] == cold.templates and set(warm.origins) == {"cache"}
    assert store.stats() == {"ssh": 3}
    other = BatchParser(warm_fake, store=store).parse(LINES[:3], system="other-system")
    assert other.stats.cache_hits == 0 and warm_fake.calls == 1  # systems do not share templates


def test_helpers():
    assert clean_template('"Disconnected from <*>"\n\nexplanation') == "Disconnected from <*>"
    assert diverse_sample(["a 1", "a 1", "a 2", "b 3"], 2) == ["a 1", "b 3"]


def test_errors_say_how_to_fix_them(tmp_path):
    with pytest.raises(InputError, match="no lines to parse") as e:
        BatchParser(None).parse([])
    assert "non-empty" in e.value.hint
    with pytest.raises(ConfigError, match="must be callable") as e:
        BatchParser("local")
    assert "ProgramTemplater" in e.value.hint
    with pytest.raises(ValidationError, match="does not compile"):
        BatchParseSettings(drain_regex=("(unclosed",))
    with pytest.raises(ValidationError, match="on_mismatch"):
        BatchParseSettings(on_mismatch="ignore")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot open the template cache") as e:
        BatchParser(None, store=TemplateStore(blocker / "sub" / "t.sqlite")).parse(["a line"])
    assert "--no-cache" in e.value.hint


def test_loghub_settings_are_picked_by_system_name():
    s = BatchParseSettings.for_system("hdfs", sample_lines=5)
    assert s.drain_regex[0].startswith("blk_") and s.sample_lines == 5
    assert BatchParseSettings.for_system("my-app") == BatchParseSettings()


def test_an_echoed_line_is_reconciled_with_drains_template():
    echo = BatchParser(lambda lines: lines[0]).parse(LINES[12:20], system="ssh")  # a weak model echoes
    assert echo.origins == ["model"] * 8 and echo.stats.reconciled == 1
    assert echo.templates[0] == "Disconnected from <*> port <*>"
    # the model marks a variable Drain kept constant (one host in every line): the merge keeps it
    same_host = [f"Disconnected from host-a port {i}" for i in range(5)]
    r = BatchParser(lambda lines: "Disconnected from <*> port 0").parse(same_host, system="ssh")
    assert r.templates == ["Disconnected from <*> port <*>"] * 5 and r.stats.reconciled == 1
    off = BatchParser(lambda lines: lines[0], settings=BatchParseSettings(reconcile=False)).parse(LINES[12:20])
    assert set(off.origins) == {"drain"}


def test_reconcile_needs_an_answer_about_these_lines():
    from logreasoner.logs.batch_parse import reconcile

    assert reconcile("Disconnected from 1.2.3.4 port <*>", "Disconnected from <*> port <*>") == \
        "Disconnected from <*> port <*>"
    assert reconcile("keep the <*> constant", "Disconnected from <*> port") is None  # nothing in place
    assert reconcile("a b", "a b c") is None


def test_small_groups_can_skip_the_model():
    fake = CountingTemplater()
    r = BatchParser(fake, settings=BatchParseSettings(min_group_lines=7)).parse(LINES, system="ssh")
    assert fake.calls == 2 and r.origins[-1] == "drain" and r.origins[0] == "model"  # the 6-line group skipped


def test_a_model_template_merges_groups_drain_kept_apart_only_when_specific_enough():
    lines = [f"overlap:false item {i}" for i in range(4)] + [f"overlap:true item {i}" for i in range(3)]
    calls = []

    def templater(sample):
        calls.append(sample)
        return "overlap:<*> item <*>"

    r = BatchParser(templater).parse(lines, system="android")
    assert len(calls) == 1 and r.templates == ["overlap:<*> item <*>"] * 7  # the second group joins, no call
    r = BatchParser(lambda sample: "<*> item <*>").parse(lines, system="android")
    assert r.stats.model_templates == 0 and r.stats.rejected == 2  # too little of Drain's constant text
    assert r.templates[0] == "overlap:false item <*>"


def test_keeps_enough_counts_constant_tokens_not_characters():
    from logreasoner.logs.batch_parse import keeps_enough

    # a one-line group: Drain's template is the line itself; the right template drops most of its characters
    assert keeps_enough("workerEnv.init() ok <*>", "workerEnv.init() ok /etc/httpd/conf/workers2.properties", 0.6)
    assert keeps_enough("setSteps=<*>##<*>", "setSteps=1514038440000##7007", 0.6)  # a token pattern fits it
    assert not keeps_enough("<*> item <*>", "overlap:false item <*>", 0.6)
    assert not keeps_enough("<*> <*>", "a b", 0.0)
    assert keeps_enough("getStepCounterStatus= <*>", "<*> <*> 0 <*>", 0.6)  # more specific than Drain's
    # a wildcard that spans tokens must not swallow constant tokens Drain saw in every line of the group
    drain = "Closed socket connection for client <*> which had sessionid <*>"
    assert not keeps_enough("Closed socket connection for client /<*>:<*>", drain, 0.6)
    assert keeps_enough("Closed socket connection for client /<*>:<*> which had sessionid <*>", drain, 0.6)
    assert keeps_enough("Closed socket connection for <*> <*> which had sessionid <*>", drain, 0.6)  # aligned: 7 of 8


def test_a_run_with_a_model_does_not_take_templates_cached_without_one(tmp_path):
    store = TemplateStore(tmp_path / "t.sqlite")
    BatchParser(None, store=store).parse(LINES, system="ssh")  # Drain templates, no model
    fake = CountingTemplater()
    r = BatchParser(fake, store=store).parse(LINES, system="ssh")
    assert fake.calls == 3 and r.stats.cache_hits == 0
    again = CountingTemplater()
    r = BatchParser(again, store=store).parse(LINES, system="ssh")
    assert again.calls == 0 and r.stats.cache_hits == len(LINES)


def test_blank_lines_cost_no_call():
    fake = CountingTemplater({"x": "x <*>"})
    r = BatchParser(fake).parse(["", "x 1", "x 2", "   "])
    assert fake.calls == 1 and r.templates == ["", "x <*>", "x <*>", ""]
