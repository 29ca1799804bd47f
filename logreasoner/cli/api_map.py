"""Which public Python function does each command's work: the CLI is a thin layer over the API.

:data:`COMMAND_API` names, for every command path (``"eval run"``, ``"thoughts search"``), the dotted path of
the documented callable the command calls to do its work, so whatever the CLI does can be done from Python.
A command that is only a convenience of the command line (it formats data there is no function for) names its
own function and says why in :data:`CLI_CONVENIENCES`. ``tests/cli/test_cli_api_map.py`` checks that every
command of the mounted CLI has an entry, that every path imports, and that each callable is documented.
"""

from __future__ import annotations

__all__ = ["COMMAND_API", "CLI_CONVENIENCES"]

_STORE = "logreasoner.thoughts_db.store.ThoughtStore"
_PIPELINE = "logreasoner.finetune.pipeline.Pipeline"

COMMAND_API: dict[str, str] = {
    "analyze": "logreasoner.analysis.analyze",
    "parse": "logreasoner.parsing.parse_log",
    "tasks": "logreasoner.tasks.list_tasks",
    "sample": "logreasoner.cli.main.sample",
    "models list": "logreasoner.cli.main.models_list",
    "models pull": "logreasoner.lm.registry.resolve_embedded",
    "investigate": "logreasoner.agents.investigator.Investigator.investigate",
    "mcp serve": "logreasoner.agents.mcp_server.build_server",
    "thoughts import": f"{_STORE}.import_flowcharts",
    "thoughts list": f"{_STORE}.list_flowcharts",
    "thoughts show": f"{_STORE}.get_flowchart",
    "thoughts search": f"{_STORE}.retrieve",
    "thoughts export": f"{_STORE}.export",
    "thoughts stats": f"{_STORE}.stats",
    "eval run": "logreasoner.evals.runner.run_eval",
    "eval compile": "logreasoner.evals.compile.compile_on_dataset",
    "eval report": "logreasoner.evals.report.compare_runs",
    "eval datasets": "logreasoner.evals.datasets.list_datasets",
    "eval suites": "logreasoner.evals.cli.suites_cmd",
    "finetune run": f"{_PIPELINE}.run",
    "finetune traces": f"{_PIPELINE}.traces",
    "finetune sft-data": f"{_PIPELINE}.sft_data",
    "finetune sft": f"{_PIPELINE}.sft",
    "finetune mine": f"{_PIPELINE}.mine",
    "finetune dpo": f"{_PIPELINE}.dpo",
    "finetune export": f"{_PIPELINE}.export",
    "finetune eval": f"{_PIPELINE}.evaluate",
    "finetune ship": "logreasoner.finetune.ship.ship_student",
    "finetune status": "logreasoner.finetune.state.RunState",
    "scale scan": "logreasoner.scale.pipeline.scan_log",
    "scale cache": "logreasoner.scale.cache.AnswerCache",
}

# Commands whose entry above is their own CLI function, and why no API function stands behind them.
CLI_CONVENIENCES: dict[str, str] = {
    "sample": "prints the path of a log bundled in logreasoner/data/samples (importlib.resources); no API needed",
    "models list": "a table of logreasoner.lm.registry.EMBEDDED_MODELS (a dict, no function), whether each is "
                   "cached, and each EmbeddedModel.card_data()",
    "eval suites": "prints logreasoner.evals.suites.SUITES (a dict, no function; get_suite looks one up)",
}
