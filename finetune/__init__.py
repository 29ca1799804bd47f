"""Distil teacher traces into a small local model: thought SFT, stepwise SFT, then DPO on its own mistakes.

Stages (declared once in :mod:`logreasoner.finetune.stages`, each a :class:`Pipeline` method and a
``logreasoner finetune`` command, resumable through ``state.json``)::

    traces -> sft-data -> sft (thought, stepwise) -> mine -> dpo -> export [-> eval]

``register_stage(Stage(...), after=...)`` adds a stage of your own (a function, its settings a
``[stages.<name>]`` table): see ``examples/custom_stage.py``.

>>> from logreasoner.finetune import load_config, run_pipeline
>>> run_pipeline(load_config("finetune.toml"))          # then: load_lm("runs/<name>")

Heavy libraries (torch, transformers, trl, peft, datasets) load only inside the stages that need them.
"""

from logreasoner.finetune.config import FinetuneConfig, load_config
from logreasoner.finetune.data import load_examples, make_example
from logreasoner.finetune.experts import AnomalyExpert, DiagnosisExpert, get_expert
from logreasoner.finetune.pipeline import STAGES, Pipeline, run_pipeline
from logreasoner.finetune.stages import Stage, register_stage
from logreasoner.finetune.traces import Trace, expert_traces, generate_traces, lm_traces

__all__ = [
    "FinetuneConfig",
    "load_config",
    "load_examples",
    "make_example",
    "Pipeline",
    "run_pipeline",
    "STAGES",
    "Stage",
    "register_stage",
    "Trace",
    "expert_traces",
    "lm_traces",
    "generate_traces",
    "get_expert",
    "AnomalyExpert",
    "DiagnosisExpert",
]
