"""The in-process engine registry: one entry per backend (name -> factory, serial or not, how to install it).

``load_lm`` builds engines through it, finetune builds its student engines through it, and the evals runner and
the scale pipeline ask it whether a model must run one request at a time. A new in-process backend is one
:func:`register_engine` call.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from logreasoner.errors import ModelUnavailableError

__all__ = ["EngineInfo", "register_engine", "get_engine", "engine_names", "choose_engine", "make_engine",
           "is_serial"]


@dataclass(frozen=True)
class EngineInfo:
    """One in-process backend.

    Attributes:
        name: the backend name used in specs (``llamacpp:``, ``hf:``) and recipes.
        factory: ``factory(path, *, adapter, constrained, chat_format, n_ctx, threads) -> engine``.
        serial: the engine runs one generation at a time (callers run examples one by one, not in threads).
        modules: the importable modules the backend needs (all present = available).
        install: how to install it, for the error a missing backend raises.
        adapters: the adapter forms it takes, for its error (``.gguf`` LoRA, PEFT folder).
    """

    name: str
    factory: Callable[..., Any]
    serial: bool = True
    modules: tuple[str, ...] = ()
    install: str = ""
    adapters: str = ""

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.modules)


def _llamacpp(path: str, *, adapter: str | None = None, constrained: bool = True, chat_format: str | None = None,
              n_ctx: int = 8192, threads: int | None = None) -> Any:
    from logreasoner.lm.llamacpp import LlamaCppEngine

    if adapter and not str(adapter).endswith(".gguf"):
        raise ModelUnavailableError("llama.cpp takes LoRA adapters as .gguf files only",
                                    "use the hf: backend for a PEFT adapter folder")
    return LlamaCppEngine(path, lora_path=adapter, constrained=constrained, chat_format=chat_format, n_ctx=n_ctx,
                          n_threads=threads)


def _transformers(path: str, *, adapter: str | None = None, constrained: bool = True, chat_format: str | None = None,
                  n_ctx: int = 8192, threads: int | None = None) -> Any:
    from logreasoner.lm.hf import TransformersEngine

    return TransformersEngine(path, adapter=adapter, constrained=constrained)


_ENGINES: dict[str, EngineInfo] = {}
_LOCK = threading.Lock()


def register_engine(info: EngineInfo, *, replace: bool = False) -> EngineInfo:
    """Add an in-process backend (``replace=True`` to override one of the same name)."""
    with _LOCK:
        if info.name in _ENGINES and not replace:
            raise ModelUnavailableError(f"engine {info.name!r} is already registered", "pass replace=True")
        _ENGINES[info.name] = info
    return info


register_engine(EngineInfo("llamacpp", _llamacpp, serial=True, modules=("llama_cpp",),
                           install="pip install 'logreasoner[local]'", adapters="GGUF LoRA (.gguf)"))
register_engine(EngineInfo("hf", _transformers, serial=True, modules=("transformers", "torch"),
                           install="pip install 'logreasoner[hf]'", adapters="PEFT adapter folder"))


def engine_names() -> list[str]:
    """The registered backends, in order of preference."""
    return list(_ENGINES)


def get_engine(name: str) -> EngineInfo:
    try:
        return _ENGINES[name]
    except KeyError:
        raise ModelUnavailableError(f"unknown in-process backend {name!r}",
                                    f"choose one of: {', '.join(_ENGINES)}") from None


def choose_engine(requested: str | None = None, adapter: str | None = None) -> str:
    """The backend for a local model: the requested one, transformers for a PEFT adapter folder, else the first
    installed backend in order of preference."""
    if requested:
        get_engine(requested)
        return requested
    if adapter and (Path(adapter) / "adapter_config.json").exists():
        return "hf"  # PEFT adapters run on transformers
    for info in _ENGINES.values():
        if info.available():
            return info.name
    raise ModelUnavailableError("no in-process backend is installed",
                                " or ".join(info.install for info in _ENGINES.values() if info.install))


def make_engine(name: str, path: str, **options: Any) -> Any:
    """An engine of backend ``name`` for the weights at ``path`` (options: adapter, constrained, chat_format, n_ctx,
    threads)."""
    return get_engine(name).factory(str(path), **options)


def is_serial(lm: Any) -> bool:
    """True when the model behind ``lm`` is an in-process engine that answers one request at a time (threads would
    only queue on its lock); False for hosted models and servers, which queue requests themselves."""
    eng = getattr(lm, "engine", None)
    if eng is None or isinstance(eng, str):
        return False
    return bool(getattr(eng, "serial", False))
