"""Language models: one spec -> one DSPy LM (hosted, local servers, or in process with constrained decoding)."""

from logreasoner.lm.engines import EngineInfo, is_serial, register_engine
from logreasoner.lm.registry import EMBEDDED_MODELS, embedded_model, resolve_embedded
from logreasoner.lm.spec import MANIFEST_NAME, engine_of, load_lm, parse_spec

__all__ = ["load_lm", "parse_spec", "engine_of", "register_engine", "EngineInfo", "is_serial", "resolve_embedded", "embedded_model", "EMBEDDED_MODELS", "MANIFEST_NAME"]
