"""What identifies a program and a model in the answer cache."""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["program_fingerprint", "model_name"]


def _settings_of(program: Any) -> dict:
    """The program's plain constructor settings (k, max_templates, ...) and the class of its retriever."""
    out: dict[str, Any] = {}
    for k, v in sorted(vars(program).items()):
        if k.startswith("_"):
            continue
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
    retriever = getattr(program, "retriever", None)
    if retriever is not None:
        out["retriever"] = type(retriever).__qualname__
    return out


def program_fingerprint(program: Any, kind: str | None = None) -> str:
    """sha256 of the program's kind, class, plain settings and ``dump_state()`` (signatures, instructions, demos).

    Recompiling or editing a program (new demos, new instructions) changes its fingerprint, so cached answers
    of the old program are never served for the new one.
    """
    try:
        state = program.dump_state()
    except Exception as e:  # a program that cannot dump its state cannot be cached safely
        from logreasoner.errors import ConfigError

        raise ConfigError(f"cannot fingerprint {type(program).__name__}: dump_state() failed ({e})",
                          "pass cache=None to run without the answer cache") from None
    payload = {"kind": kind or type(program).__name__,
               "class": f"{type(program).__module__}.{type(program).__qualname__}",
               "settings": _settings_of(program), "state": state}
    blob = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def model_name(lm: Any) -> str:
    """The model's name as the cache knows it (``lm.model``, e.g. ``local/smollm2-135m@llamacpp``)."""
    return str(getattr(lm, "model", None) or type(lm).__name__)
