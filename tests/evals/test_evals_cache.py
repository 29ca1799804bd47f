"""DSPy's answer cache and evals: a hit only for the identical model, weights and prompt, never from the tests'
own calls, and shown in the results when it happens.

The first real eval run served the first example of each dataset from DSPy's cache "although nothing had run
it before under that model name": the test suite had — its local-model smoke test runs the quick suite with
``limit=1`` on ``local``, under the very name an eval uses, and wrote the answers into the user's
``~/.dspy_cache``; the eval's first-N sample began with the same examples.
"""

import hashlib
import os
from pathlib import Path

import dspy
import pytest

from logreasoner.evals.runner import RunConfig, UserData, run_eval
from logreasoner.contracts.answers import AnomalyAnswer

N = 8  # records in fixtures/user_anomaly.jsonl


def test_the_test_session_never_writes_the_users_dspy_cache():
    folder = Path(dspy.cache.disk_cache_dir).resolve()
    assert folder != (Path.home() / ".dspy_cache").resolve()
    assert folder == Path(os.environ["DSPY_CACHEDIR"]).resolve()
    assert "logreasoner-tests-dspy-cache-" in folder.name


def test_a_child_process_of_the_tests_uses_the_session_cache_too(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import dspy; print(dspy.cache.disk_cache_dir)"],
                         capture_output=True, text=True, check=True, timeout=120)
    assert Path(out.stdout.strip()).resolve() == Path(os.environ["DSPY_CACHEDIR"]).resolve()


class _Engine:
    """An in-process engine (DSPy 3.4 ``complete(Request) -> Response``) that counts its calls."""

    def __init__(self):
        self.n = 0

    def complete(self, request):
        from dspy.lm15 import Message, Response, Usage

        self.n += 1
        return Response(id=None, model="fake", finish_reason="stop",
                        message=Message.assistant("[[ ## verdict ## ]]\nabnormal\n\n[[ ## completed ## ]]"),
                        usage=Usage(input_tokens=10, output_tokens=3, total_tokens=13))

    def close(self):
        pass


class _Verdict(dspy.Module):
    def __init__(self):
        super().__init__()
        self.p = dspy.Predict("log -> verdict")

    def forward(self, log, question=None, labels=None):
        return dspy.Prediction(answer=AnomalyAnswer(verdict=self.p(log=log).verdict), format_error=None, raw=None)


def _config(fixtures, **kw):
    return RunConfig(user_data=UserData(path=fixtures / "user_anomaly.jsonl", task="anomaly", input_field="text",
                                        label_field="label"),
                     programs=["fake"], models=["fake/model"], threads=1, bootstrap=0, plots=False, **kw)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    from dspy.clients.cache import Cache

    cache = Cache(enable_disk_cache=True, enable_memory_cache=True, disk_cache_dir=str(tmp_path / "dspy-cache"))
    monkeypatch.setattr(dspy, "cache", cache)
    return cache


def test_results_say_which_examples_the_cache_answered(fixtures, tmp_path, fresh_cache):
    engine = _Engine()
    lm = dspy.LM("fake/model", engine=engine, cache=True)
    progs = {"fake": lambda t: _Verdict()}
    first = run_eval(_config(fixtures), tmp_path / "a", progress=False, programs=progs, lm_factory=lambda s: lm)
    assert first["cells"][0]["cached_examples"] == 0 and not any("DSPy's cache" in n for n in first["notes"])
    assert first["run"]["dspy_cache"] == str(tmp_path / "dspy-cache")

    second = run_eval(_config(fixtures), tmp_path / "b", progress=False, programs=progs, lm_factory=lambda s: lm)
    assert engine.n == N  # the second run paid nothing: every answer came from the cache
    cell = second["cells"][0]
    assert cell["cached_examples"] == N
    note = next(n for n in second["notes"] if "DSPy's cache" in n)
    assert f"{N} of {N} examples" in note and "--no-cache" in note
    assert note in (tmp_path / "b" / "report.md").read_text()

    third = run_eval(_config(fixtures, cache=False), tmp_path / "c", progress=False, programs=progs,
                     lm_factory=lambda s: lm)
    assert engine.n == 2 * N and third["cells"][0]["cached_examples"] == 0 and third["run"]["dspy_cache"] is None


def test_another_model_name_never_reads_the_entries(fixtures, tmp_path, fresh_cache):
    engine = _Engine()
    progs = {"fake": lambda t: _Verdict()}
    run_eval(_config(fixtures), tmp_path / "a", progress=False, programs=progs,
             lm_factory=lambda s: dspy.LM("fake/model-a", engine=engine, cache=True))
    res = run_eval(_config(fixtures), tmp_path / "b", progress=False, programs=progs,
                   lm_factory=lambda s: dspy.LM("fake/model-b", engine=engine, cache=True))
    assert engine.n == 2 * N and res["cells"][0]["cached_examples"] == 0


def test_embedded_models_under_one_name_with_other_weights_get_other_cache_names(tmp_path, monkeypatch):
    """An embedded model's LM name carries its pinned checksum: a registry entry that keeps the name but changes
    the weights (another quantisation) never reads the old entry's answers."""
    pytest.importorskip("llama_cpp")
    from logreasoner.lm import registry
    from logreasoner.lm.registry import EmbeddedModel
    from logreasoner.lm.spec import load_lm

    weights = tmp_path / "tiny.gguf"
    weights.write_bytes(b"not loaded: engines load on their first call")
    monkeypatch.setattr(registry, "resolve_embedded", lambda name, downloader=None, **kw: weights)

    def named(payload: bytes) -> str:
        m = EmbeddedModel(name="fake-tiny", package="fake-pkg", version="1.0", member="fake_pkg/tiny.gguf",
                          sha256=hashlib.sha256(payload).hexdigest(), licence="MIT", description="test")
        monkeypatch.setitem(registry.EMBEDDED_MODELS, "fake-tiny", m)
        return load_lm("llamacpp:fake-tiny").model

    a, a_again, b = named(b"Q4_1"), named(b"Q4_1"), named(b"Q8_0")
    assert a == a_again and a.startswith("local/fake-tiny@llamacpp-")
    assert b != a
