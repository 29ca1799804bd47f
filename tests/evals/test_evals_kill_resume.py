"""A real kill: `eval run` in a subprocess gets SIGKILL half-way, then resumes; every example is run once."""

import os
import signal
import subprocess
import sys
import time

import pytest

from logreasoner.evals.checkpoint import read_samples
from logreasoner.evals.runner import run_eval


@pytest.mark.slow
def test_killed_run_resumes_without_running_anything_twice(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-c", "from logreasoner.evals.cli import app; app()", "run", "--dataset", "bgl_anomaly",
           "--split", "all", "--program", "level", "--program", "keyword", "--out", str(out), "--no-progress",
           "--bootstrap", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = out / "samples.jsonl"
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if samples.is_file() and samples.read_bytes().count(b"\n") >= 300:
                break
            if proc.poll() is not None:
                pytest.fail("the run finished before it could be killed")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    before = [r["key"] for r in read_samples(samples)]
    assert 300 <= len(before) < 4000
    assert not (out / "results.json").exists()  # killed: nothing but the checkpoint was written

    res = run_eval(None, out, resume=True, progress=False)
    keys = [r["key"] for r in read_samples(samples)]
    assert len(keys) == len(set(keys)) == 4000  # 2 programs x 2,000 lines, none twice
    assert keys[: len(before)] == before
    assert res["run"]["complete"] and sum(c["done"] for c in res["cells"]) == 4000
    assert res["run"]["invocations"][-1]["examples_run"] == 4000 - len(before)


@pytest.mark.slow
def test_sigterm_stops_like_ctrl_c_and_writes_partial_results(tmp_path):
    import json

    out = tmp_path / "run"
    cmd = [sys.executable, "-c", "from logreasoner.evals.cli import app; app()", "run", "--dataset", "bgl_anomaly",
           "--split", "all", "--program", "level", "--out", str(out), "--no-progress", "--bootstrap", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = out / "samples.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (samples.is_file() and samples.read_bytes().count(b"\n") >= 100):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    res = json.loads((out / "results.json").read_text())
    assert res["run"]["complete"] is False and 100 <= res["cells"][0]["done"] < 2000
