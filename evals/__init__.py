"""Eval suites on real public logs: datasets, metrics, the runner, reports and baselines.

>>> from logreasoner.evals import load_dataset, run_eval, RunConfig
>>> exs = load_dataset("bgl_anomaly", split="test", limit=20)
>>> run_eval(RunConfig(datasets=["bgl_anomaly"], programs=["level"], limit=50), out="runs/level")

Names are imported on first use, so ``import logreasoner.evals`` stays light (no DSPy until needed).
"""

from importlib import import_module
from typing import Any

__all__ = [
    "DatasetSpec",
    "get_dataset",
    "list_datasets",
    "load_dataset",
    "load_records",
    "register_dataset",
    "load_user_data",
    "RunConfig",
    "UserData",
    "run_eval",
]

_WHERE = {
    "DatasetSpec": "datasets", "get_dataset": "datasets", "list_datasets": "datasets", "load_dataset": "datasets",
    "load_records": "datasets", "register_dataset": "datasets", "load_user_data": "userdata",
    "RunConfig": "config", "UserData": "config", "run_eval": "runner",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"logreasoner.evals.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'logreasoner.evals' has no attribute {name!r}")
