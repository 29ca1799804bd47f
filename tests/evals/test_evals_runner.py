"""The runner with DummyLM, a tiny engine and fake programs: scores, usage, cache hits, failures, resume."""

import json
import threading

import dspy
import pytest
from dspy.lm15 import Message, Response, Usage
from dspy.utils import DummyLM

from logreasoner.errors import InputError
from logreasoner.evals.checkpoint import SampleLog, read_samples
from logreasoner.evals.runner import RunConfig, UserData, answer_value, run_eval
from logreasoner.contracts.answers import AnomalyAnswer, RCAAnswer
from logreasoner.tasks import get_task

N = 8  # records in fixtures/user_anomaly.jsonl


def _config(fixtures, **kw):
    base = dict(user_data=UserData(path=fixtures / "user_anomaly.jsonl", task="anomaly", input_field="text",
                                   label_field="label", question_field="q"),
                programs=["fake"], models=["dummy"], threads=1, bootstrap=50, plots=False)
    base.update(kw)
    return RunConfig(**base)


class FakeAnomaly(dspy.Module):
    """FATAL/ERROR -> abnormal. Raises on a chosen text; a KeyboardInterrupt on the n-th call (simulated kill)."""

    def __init__(self, calls, fail_on=None, interrupt_at=None):
        super().__init__()
        self.calls, self.fail_on, self.interrupt_at = calls, fail_on, interrupt_at
        self.lock = threading.Lock()

    def forward(self, log, question=None, labels=None):
        with self.lock:
            self.calls.append(log)
            n = len(self.calls)
        if self.interrupt_at is not None and n == self.interrupt_at:
            raise KeyboardInterrupt
        if self.fail_on and self.fail_on in log:
            raise RuntimeError("boom")
        verdict = "abnormal" if ("FATAL" in log or "ERROR" in log) else "normal"
        return dspy.Prediction(answer=AnomalyAnswer(verdict=verdict, evidence_lines=[1] if verdict == "abnormal" else []),
                               format_error=None, raw=None, note="a trace field")


def _programs(calls, **kw):
    return {"fake": lambda task: FakeAnomaly(calls, **kw)}


def _dummy(spec):
    return DummyLM([{"unused": "x"}] * 100)


def test_scores_and_outputs(fixtures, tmp_path):
    calls = []
    res = run_eval(_config(fixtures), tmp_path / "run", progress=False, programs=_programs(calls), lm_factory=_dummy)
    assert len(calls) == N
    cell = res["cells"][0]
    assert cell["done"] == N and cell["complete"] and cell["score"] == 1.0 and cell["format_failures"] == 0
    assert res["run"]["complete"] and res["seed"] == 0 and res["versions"]["dspy"]
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["cells"][0]["score_ci"] == cell["score_ci"]
    recs = list(read_samples(tmp_path / "run" / "samples.jsonl"))
    assert len(recs) == N and recs[0]["trace"] == {"note": "a trace field"}
    assert recs[0]["input"]["log"] and recs[0]["gold"] in ("normal", "abnormal") and recs[0]["score"] == 1.0
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| dataset | task | metric |" in report and "fake @ dummy" in report
    assert saved["environment"]["embedded_weights"] in ("as trained", "q4_0", "q4_1")
    assert f"- retrieval of expert plans: {saved['environment']['retrieval']}; " in report


def test_results_say_how_plans_were_retrieved(monkeypatch):
    from logreasoner.evals.results import environment

    monkeypatch.setenv("LOGREASONER_EMBEDDINGS", "0")
    monkeypatch.setenv("LOGREASONER_EMBEDDED_WEIGHTS", "q4_0")
    assert environment() == {"retrieval": "lexical (LOGREASONER_EMBEDDINGS=0)", "embedded_weights": "q4_0"}
    monkeypatch.delenv("LOGREASONER_EMBEDDINGS")
    monkeypatch.delenv("LOGREASONER_EMBEDDED_WEIGHTS")
    monkeypatch.setattr("logreasoner.thoughts_db.embed.embeddings_available", lambda: False)
    assert environment()["retrieval"].startswith("lexical (no embedder here")
    assert environment()["embedded_weights"] == "as trained"


def test_dummy_lm_program_usage_and_format_failures(fixtures, tmp_path):
    class Predictor(dspy.Module):
        def __init__(self):
            super().__init__()
            self.p = dspy.Predict("log -> verdict")

        def forward(self, log, question=None, labels=None):
            v = str(self.p(log=log).verdict).strip().lower()
            if v not in ("normal", "abnormal"):
                return dspy.Prediction(answer=None, format_error=f"bad verdict {v!r}", raw=v)
            return dspy.Prediction(answer=AnomalyAnswer(verdict=v), format_error=None, raw=None)

    answers = [{"verdict": "abnormal"}, {"verdict": "maybe"}] * (N // 2)
    lm = DummyLM(answers)
    res = run_eval(_config(fixtures), tmp_path / "run", progress=False, programs={"fake": lambda t: Predictor()},
                   lm_factory=lambda spec: lm)
    cell = res["cells"][0]
    assert cell["format_failures"] == N // 2 and cell["format_failure_rate"] == 0.5
    assert cell["usage"]["lm_calls"] == N
    assert cell["parsed_only"]["precision"] == pytest.approx(cell["metrics"]["precision"])
    failed = [r for r in read_samples(tmp_path / "run" / "samples.jsonl") if r["pred"] is None]
    assert len(failed) == N // 2 and failed[0]["format_error"] == "bad verdict 'maybe'" and failed[0]["raw"] == "maybe"


class _Engine:
    """A tiny in-process engine (DSPy 3.4 `complete(Request) -> Response`) that counts its calls."""

    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()

    def complete(self, request):
        with self.lock:
            self.n += 1
        return Response(id=None, model="fake", finish_reason="stop",
                        message=Message.assistant("[[ ## verdict ## ]]\nabnormal\n\n[[ ## completed ## ]]"),
                        usage=Usage(input_tokens=10, output_tokens=3, total_tokens=13))

    def stream(self, request):  # pragma: no cover - not used
        raise NotImplementedError

    def close(self):
        pass


class VerdictPredictor(dspy.Module):
    """One real dspy.Predict (so the LM, its cache and its usage are exercised), typed as an anomaly answer."""

    def __init__(self):
        super().__init__()
        self.p = dspy.Predict("log -> verdict")

    def forward(self, log, question=None, labels=None):
        return dspy.Prediction(answer=AnomalyAnswer(verdict=self.p(log=log).verdict), format_error=None, raw=None)


def test_threads_tokens_and_cache_hits(fixtures, tmp_path, monkeypatch):
    from dspy.clients.cache import Cache

    monkeypatch.setattr(dspy, "cache", Cache(enable_disk_cache=False, enable_memory_cache=True, disk_cache_dir=None))
    engine = _Engine()
    lm = dspy.LM("fake/model", engine=engine, cache=True)

    cfg = _config(fixtures, models=["fake/model"], threads=4)
    progs = {"fake": lambda t: VerdictPredictor()}
    first = run_eval(cfg, tmp_path / "a", progress=False, programs=progs, lm_factory=lambda s: lm)["cells"][0]
    assert engine.n == N
    assert first["usage"]["lm_calls"] == N and first["usage"]["total_tokens"] == 13 * N
    assert first["usage"]["cache_hits"] == 0
    second = run_eval(cfg, tmp_path / "b", progress=False, programs=progs, lm_factory=lambda s: lm)["cells"][0]
    assert engine.n == N  # nothing paid twice: DSPy's cache answered
    assert second["usage"]["cache_hits"] == N and second["usage"]["total_tokens"] == 0
    assert second["score"] == first["score"]


def test_failing_example_is_recorded_and_the_run_goes_on(fixtures, tmp_path):
    calls = []
    res = run_eval(_config(fixtures), tmp_path / "run", progress=False, programs=_programs(calls, fail_on="cron"),
                   lm_factory=_dummy)
    cell = res["cells"][0]
    assert len(calls) == N and cell["done"] == N and cell["errors"] == 1 and cell["format_failures"] == 0
    bad = [r for r in read_samples(tmp_path / "run" / "samples.jsonl") if r["error"]]
    assert len(bad) == 1 and bad[0]["error"] == "RuntimeError: boom" and "Traceback" in bad[0]["traceback"]
    assert bad[0]["score"] == 0.0 and bad[0]["pred"] is None
    # resume retries only the failed example
    calls2 = []
    res2 = run_eval(None, tmp_path / "run", resume=True, progress=False, programs=_programs(calls2),
                    lm_factory=_dummy)
    assert calls2 == ["cron[4]: job finished"] and res2["cells"][0]["errors"] == 0


@pytest.mark.parametrize("threads", [1, 3])
def test_resume_after_interruption_runs_only_the_rest(fixtures, tmp_path, threads):
    out = tmp_path / "run"
    cfg = _config(fixtures, threads=threads)
    calls = []
    with pytest.raises(KeyboardInterrupt):
        run_eval(cfg, out, progress=False, programs=_programs(calls, interrupt_at=4), lm_factory=_dummy)
    saved = list(read_samples(out / "samples.jsonl"))
    assert 3 <= len(saved) < N
    partial = json.loads((out / "results.json").read_text())
    assert partial["run"]["complete"] is False and partial["cells"][0]["done"] == len(saved)
    assert "INCOMPLETE" in (out / "report.md").read_text()

    calls2 = []
    res = run_eval(None, out, resume=True, progress=False, programs=_programs(calls2), lm_factory=_dummy)
    done_logs = {r["input"]["log"] for r in saved}
    assert len(calls2) == N - len(saved) and not done_logs & set(calls2)
    recs = list(read_samples(out / "samples.jsonl"))
    assert len(recs) == N == len({r["key"] for r in recs})  # nothing ran twice
    assert res["run"]["complete"] and len(res["run"]["invocations"]) == 2 and res["cells"][0]["score"] == 1.0

    calls3 = []
    run_eval(None, out, resume=True, progress=False, programs=_programs(calls3), lm_factory=_dummy)
    assert calls3 == []


def test_refuses_to_overwrite_a_run(fixtures, tmp_path):
    run_eval(_config(fixtures), tmp_path / "run", progress=False, programs=_programs([]), lm_factory=_dummy)
    with pytest.raises(InputError, match="--resume"):
        run_eval(_config(fixtures), tmp_path / "run", progress=False, programs=_programs([]), lm_factory=_dummy)
    with pytest.raises(InputError, match="no config.json"):
        run_eval(None, tmp_path / "empty", resume=True)


def test_baselines_need_no_model_and_skip_other_tasks(tmp_path):
    cfg = RunConfig(datasets=["bgl_anomaly", "loghub_parse"], programs=["level", "drain3"], limit=30,
                    bootstrap=50, plots=True)

    def no_model(spec):
        raise AssertionError("baselines must not load a model")

    res = run_eval(cfg, tmp_path / "run", progress=False, lm_factory=no_model)
    cells = {(c["program"], c["dataset"]): c for c in res["cells"]}
    assert set(cells) == {("level", "bgl_anomaly"), ("drain3", "loghub_parse")}
    assert cells[("level", "bgl_anomaly")]["model"] == "-"
    assert cells[("drain3", "loghub_parse")]["metrics"]["grouping_accuracy"] > 0.8
    assert {s["program"] for s in res["skipped"]} == {"level", "drain3"}
    assert (tmp_path / "run" / "scores.png").is_file() and (tmp_path / "run" / "cost_vs_score.png").is_file()
    assert any("pre-training" in n for n in cells[("drain3", "loghub_parse")]["notes"])


def test_sample_log_cuts_a_partial_last_line(tmp_path):
    p = tmp_path / "samples.jsonl"
    p.write_text(json.dumps({"key": "a", "v": 1}) + "\n" + '{"key": "b", "v"')
    with SampleLog(p) as log:
        log.append({"key": "c", "v": 3})
    assert [r["key"] for r in read_samples(p)] == ["a", "c"]


def test_answer_value_views():
    rca = get_task("rca")
    a = RCAAnswer(cause="disk full", remediation=["free space", "rotate logs"])
    assert answer_value(rca, a) == "disk full"
    assert answer_value(rca, a, "remediation") == "free space\nrotate logs"
    assert answer_value(rca, RCAAnswer(cause="disk full"), "remediation") == "disk full"  # empty view falls back
    assert answer_value(rca, None) is None and answer_value(rca, "text") == "text"


def test_local_workers_give_each_worker_its_own_model_copy(fixtures, tmp_path, monkeypatch):
    """`--local-workers 2`: two copies of an in-process model answer in parallel, each used by one worker at a
    time, the machine's threads split between them."""
    import time as _time

    monkeypatch.setenv("LOGREASONER_THREADS", "4")

    class Slow(_Engine):
        def __init__(self):
            super().__init__()
            self.n_threads = 4
            self.active = 0
            self.overlap = False

        def complete(self, request):
            with self.lock:
                self.active += 1
                self.overlap |= self.active > 1
            _time.sleep(0.02)
            with self.lock:
                self.active -= 1
            return super().complete(request)

    engines = []

    def factory(spec):
        engines.append(Slow())
        return dspy.LM("local/fake", engine=engines[-1], cache=False)

    cfg = _config(fixtures, models=["local"], local_workers=2, cache=False)
    cell = run_eval(cfg, tmp_path / "run", progress=False, programs={"fake": lambda t: VerdictPredictor()},
                    lm_factory=factory)["cells"][0]
    assert cell["done"] == N and len(engines) == 2
    assert sum(e.n for e in engines) == N and all(e.n > 0 for e in engines)
    assert [e.n_threads for e in engines] == [2, 2]
    assert not any(e.overlap for e in engines)  # a copy is never used by two workers at once
