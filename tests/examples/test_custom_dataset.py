"""examples/custom_dataset.py: one registered DatasetSpec is a dataset for run_eval and, as a plugin, the CLI."""

import importlib.metadata
import json
import runpy
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "custom_dataset.py"


@pytest.fixture
def datasets_registry():
    from logreasoner.evals import datasets

    before, loaded = dict(datasets._REGISTRY), datasets._PLUGINS_LOADED
    yield datasets
    datasets._REGISTRY.clear()
    datasets._REGISTRY.update(before)
    datasets._PLUGINS_LOADED = loaded


def test_the_example_dataset_has_real_labels_and_runs_in_an_eval(tmp_path, datasets_registry):
    ns = runpy.run_path(str(EXAMPLE), run_name="example")
    from logreasoner.evals.datasets import get_dataset, load_dataset
    from logreasoner.evals.runner import RunConfig, run_eval

    assert get_dataset("bgl_kernel_anomaly") is ns["DATASET"]
    records = ns["kernel_records"]()
    assert len(records) == 1820 and sum(r.answer == "abnormal" for r in records) == 115
    test = load_dataset("bgl_kernel_anomaly", split="test")
    assert test and all(ex.answer in ("normal", "abnormal") for ex in test)
    results = run_eval(RunConfig(datasets=["bgl_kernel_anomaly"], programs=["level", "keyword"], plots=False,
                                 bootstrap=0), tmp_path / "run", progress=False)
    cells = {c["program"]: c for c in results["cells"]}
    assert set(cells) == {"level", "keyword"} and all(c["n"] == len(test) for c in cells.values())
    assert cells["level"]["primary_metric"] == "f1"  # the anomaly task's suite, asked of the task


def test_the_example_dataset_as_an_entry_point_reaches_the_cli(tmp_path, monkeypatch, datasets_registry):
    shutil.copy(EXAMPLE, tmp_path / "bgl_plugin.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = importlib.metadata.EntryPoint(name="bgl", value="bgl_plugin:DATASET", group="logreasoner.datasets")
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **kw: [ep] if kw.get("group") == "logreasoner.datasets" else real(**kw))
    datasets_registry._PLUGINS_LOADED = False
    datasets_registry._REGISTRY.pop("bgl_kernel_anomaly", None)
    from logreasoner.evals.cli import app

    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["run", "--dataset", "bgl_kernel_anomaly", "--program", "level", "--out", str(out),
                                 "--no-progress", "--bootstrap", "0", "--limit", "40"])
    assert r.exit_code == 0, r.output
    cell = json.loads((out / "results.json").read_text())["cells"][0]
    assert cell["dataset"] == "bgl_kernel_anomaly" and cell["n"] == 40
    sys.modules.pop("bgl_plugin", None)
