"""The thought store: expert troubleshooting flowcharts as networkx graphs, the thought templates drawn from
them, kept in SQLite and retrieved per task (hybrid BM25 + embeddings, DPP diversity).

Quick start::

    from logreasoner.thoughts_db import ThoughtStore
    store = ThoughtStore.default()                 # <cache_dir>/thoughts.db with the shipped library
    plans = store.retrieve(log_text, task="anomaly", k=3)

    from logreasoner.thoughts_db import parse_mermaid, validate, flowchart_to_plans
    fc = parse_mermaid(open("chart.mmd").read())
    validate(fc).raise_for_errors()
    templates = flowchart_to_plans(fc)
"""

from logreasoner.thoughts_db.dpp import dpp_greedy, dpp_kernel
from logreasoner.thoughts_db.embed import Embedder, MiniLMEmbedder, default_embedder, embeddings_available
from logreasoner.thoughts_db.graph import Flowchart, FlowchartError, FlowchartMeta, NodeKind
from logreasoner.thoughts_db.jsonio import from_json, to_json
from logreasoner.thoughts_db.library import library_dir, library_files, load_flowchart, parse_flowchart_text
from logreasoner.thoughts_db.mermaid import parse_mermaid, to_mermaid
from logreasoner.thoughts_db.render import render_tree
from logreasoner.thoughts_db.schema import SCHEMA_VERSION
from logreasoner.thoughts_db.store import ImportResult, ThoughtStore
from logreasoner.thoughts_db.templates import StepProvenance, ThoughtTemplate, flowchart_paths, flowchart_to_plans
from logreasoner.thoughts_db.validate import Issue, ValidationReport, check, validate

_LAZY = {  # DSPy is imported only when the LM abstraction is used
    "AbstractThought", "ThoughtAbstractor", "abstract_flowchart", "abstract_rationale", "scrub_instance_details",
}


def __getattr__(name: str):
    if name in _LAZY:
        from logreasoner.thoughts_db import abstract

        return getattr(abstract, name)
    raise AttributeError(f"module 'logreasoner.thoughts_db' has no attribute {name!r}")


__all__ = [
    "ThoughtStore",
    "ImportResult",
    "Flowchart",
    "FlowchartMeta",
    "FlowchartError",
    "NodeKind",
    "parse_mermaid",
    "to_mermaid",
    "from_json",
    "to_json",
    "load_flowchart",
    "parse_flowchart_text",
    "validate",
    "check",
    "ValidationReport",
    "Issue",
    "flowchart_to_plans",
    "flowchart_paths",
    "ThoughtTemplate",
    "StepProvenance",
    "AbstractThought",
    "ThoughtAbstractor",
    "abstract_flowchart",
    "abstract_rationale",
    "scrub_instance_details",
    "render_tree",
    "dpp_greedy",
    "dpp_kernel",
    "Embedder",
    "MiniLMEmbedder",
    "default_embedder",
    "embeddings_available",
    "library_dir",
    "library_files",
    "SCHEMA_VERSION",
]
