"""The runner with the real programs on the embedded local model (slow; needs the model file)."""

import pytest

from logreasoner.errors import ModelUnavailableError
from logreasoner.evals.checkpoint import read_samples
from logreasoner.evals.runner import RunConfig, run_eval


@pytest.mark.slow
@pytest.mark.model
def test_quick_suite_smoke_on_the_local_model(tmp_path):
    try:
        from logreasoner.lm import load_lm

        load_lm("local")
    except (ModelUnavailableError, ImportError) as e:
        pytest.skip(f"local model not available: {e}")
    cfg = RunConfig(suite="quick", limit=1, programs=["direct", "coarse_to_fine"], models=["local"], bootstrap=20,
                    plots=False)
    res = run_eval(cfg, tmp_path / "run", progress=False)
    assert len(res["cells"]) == 10 and all(c["done"] == 1 for c in res["cells"])
    recs = list(read_samples(tmp_path / "run" / "samples.jsonl"))
    assert all(r["error"] is None for r in recs), [r["error"] for r in recs if r["error"]]
    assert all(r["usage"]["lm_calls"] >= 1 for r in recs)
    c2f = [r for r in recs if r["program"] == "coarse_to_fine"]
    assert all("plan" in r["trace"] for r in c2f)
