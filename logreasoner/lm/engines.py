"""The in-process engine registry: one entry per backend (name -> factory, serial or not, how to install it).

``load_lm`` builds engines through it, finetune builds its student engines through it, and the evals runner and
the scale pipeline ask it whether a model must run one request at a time. A new in-process backend is one
:func:`register_engine` call (examples/custom_engine.py), or, so that the CLI sees it too, an
:class:`EngineInfo` (or a function returning some) under the ``logreasoner.engines`` entry point of your package.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from logreasoner.errors import ModelUnavailableError
from logreasoner.plugins import register_entry_points

__all__ = ["EngineInfo", "register_engine", "get_engine", "engine_names", "engine_prefix", "choose_engine", "make_engine",
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
        adapters: the adapter formats it applies: ``"gguf"`` (a GGUF LoRA file, as the embedded student ships)
            and/or ``"peft"`` (a PEFT adapter folder).
    """

    name: str
    factory: Callable[..., Any]
    serial: bool = True
    modules: tuple[str, ...] = ()
    install: str = ""
    adapters: tuple[str, ...] = ("gguf",)

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
                           install="pip install 'logreasoner[local]'", adapters=("gguf",)))
register_engine(EngineInfo("hf", _transformers, serial=True, modules=("transformers", "torch"),
                           install="pip install 'logreasoner[hf]'", adapters=("peft",)))


_PLUGINS_LOADED = False


def _load_plugins() -> None:
    """Register the engines of installed packages (the ``logreasoner.engines`` entry point group), once."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    register_entry_points("logreasoner.engines", EngineInfo, register_engine, lambda name: name in _ENGINES)


def engine_prefix(spec: str) -> tuple[str | None, str]:
    """``("name", rest)`` for a spec that starts with a registered backend name and a colon (``llamacpp:local``),
    else ``(None, spec)``."""
    _load_plugins()
    name, sep, rest = spec.partition(":")
    return (name, rest) if sep and name in _ENGINES else (None, spec)


def engine_names() -> list[str]:
    """The registered backends, in order of preference."""
    _load_plugins()
    return list(_ENGINES)


def get_engine(name: str) -> EngineInfo:
    """The registered backend ``name`` (an unknown name raises with the known ones)."""
    _load_plugins()
    try:
        return _ENGINES[name]
    except KeyError:
        raise ModelUnavailableError(f"unknown in-process backend {name!r}",
                                    f"choose one of: {', '.join(_ENGINES)}") from None


def choose_engine(requested: str | None = None, adapter: str | None = None) -> str:
    """The backend for a local model: the requested one, else the first backend in order of preference that is
    installed and applies the adapter's format (a PEFT folder: transformers)."""
    if requested:
        get_engine(requested)
        return requested
    peft = bool(adapter) and (Path(adapter) / "adapter_config.json").exists()
    candidates = [info for info in _ENGINES.values() if not peft or "peft" in info.adapters]
    for info in candidates:
        if info.available():
            return info.name
    if peft and candidates:  # the PEFT backend, not installed: loading it names the extra to install
        return candidates[0].name
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
