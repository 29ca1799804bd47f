"""llama.cpp backend (``llama-cpp-python``): GGUF models in process, JSON-schema grammars, GGUF LoRA adapters."""

from __future__ import annotations

import os
from pathlib import Path

from logreasoner.errors import ModelUnavailableError
from logreasoner.lm.engine_base import LocalEngine

__all__ = ["LlamaCppEngine", "schema_grammar"]

# llama-cpp-python's JSON-schema grammar lets a string hold raw control characters (its ``char`` rule is
# ``[^"\\]``; llama.cpp's own converter excludes U+0000-U+001F and U+007F): a model then writes a newline inside a
# string and the answer is not JSON. The engine writes the rule as llama.cpp does.
_LOOSE_CHAR = r'char ::= [^"\\] |'
_JSON_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'


def schema_grammar(schema: dict):
    """The llama.cpp grammar of a JSON schema, strings without raw control characters (as JSON requires)."""
    import json

    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    gbnf = json_schema_to_gbnf(json.dumps(schema))
    return LlamaGrammar.from_string(gbnf.replace(_LOOSE_CHAR, _JSON_CHAR), verbose=False)


class LlamaCppEngine(LocalEngine):
    """A GGUF model run in process by llama.cpp. Loaded lazily on the first call; safe to share across threads."""

    # raised when the engine's decoding changes in a way no setting names (part of the answer cache's key):
    # 2 = strings without raw control characters or control tokens; 3 = schema drafts also after a closed value
    decoding_revision = 3

    def __init__(
        self,
        model_path: str | os.PathLike,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        lora_path: str | None = None,
        chat_format: str | None = None,
        seed: int = 0,
        constrained: bool = True,
        n_batch: int = 512,
        prompt_cache_mb: int = 256,
        grammar_first: bool = True,
        repeat_penalty: float = 1.0,
        schema_drafts: bool | None = None,
        repeat_guard: int | None = None,
    ) -> None:
        super().__init__(constrained=constrained)
        self.model_path = str(model_path)
        self.n_ctx = n_ctx
        if n_threads is None:  # LOGREASONER_THREADS, else the cores (at most 8)
            from logreasoner.settings import get_settings

            n_threads = get_settings().threads
        self.n_threads = n_threads
        self.lora_path = lora_path
        self.chat_format = chat_format
        self.seed = seed
        self.n_batch = n_batch
        # llama.cpp reuses the KV cache only for the prefix shared with the *previous* prompt; a program that
        # alternates prompts (planner, step, planner, ...) loses it every call. A RAM cache of saved states
        # restores the longest cached prefix instead (the system message and instructions of each stage).
        self.prompt_cache_mb = prompt_cache_mb
        # greedy constrained decoding tests only the picked token against the grammar (same output, fewer checks)
        self.grammar_first = grammar_first
        self.repeat_penalty = repeat_penalty
        # draft what the schema forces (keys, separators, openers) and check the draft in one batch; with the
        # grammar-first sampler only (logreasoner.lm.schema_draft). None: LOGREASONER_SCHEMA_DRAFTS (default on)
        if schema_drafts is None:
            from logreasoner.settings import get_settings

            schema_drafts = get_settings().schema_drafts
        self.schema_drafts = schema_drafts
        # inside a JSON string value, no run of this many tokens twice (logreasoner.lm.repeat_guard); with the
        # grammar-first sampler only. None: LOGREASONER_REPEAT_GUARD (default 4); 0: no check
        if repeat_guard is None:
            from logreasoner.settings import get_settings

            repeat_guard = get_settings().repeat_guard
        if repeat_guard == 1 or repeat_guard < 0:
            raise ValueError(f"repeat_guard must be 0 (off) or at least 2 tokens, got {repeat_guard}")
        self.repeat_guard = repeat_guard
        self._llm = None
        if not Path(self.model_path).is_file():
            raise ModelUnavailableError(f"GGUF file not found: {self.model_path}", "check the path or run 'logreasoner models pull'")

    @property
    def model_name(self) -> str:
        return Path(self.model_path).name

    def dump_state(self) -> dict:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "lora_path": self.lora_path,
                "chat_format": self.chat_format, "seed": self.seed, "constrained": self.constrained,
                "prompt_cache_mb": self.prompt_cache_mb, "grammar_first": self.grammar_first,
                "repeat_penalty": self.repeat_penalty, "schema_drafts": self.schema_drafts,
                "repeat_guard": self.repeat_guard, "prompt_layout": self.prompt_layout}

    def _load(self):
        if self._llm is not None:
            return self._llm
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ModelUnavailableError(
                "the llama.cpp backend is not installed",
                "pip install 'logreasoner[local]' (builds llama-cpp-python, 8-10 min once)",
            ) from None
        # n_threads_batch too: llama-cpp-python's default is every core, so two model copies of one thread each
        # (eval run's local workers) would run four threads on two cores for every prompt and checked draft
        kwargs = dict(model_path=self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                      n_threads_batch=self.n_threads, seed=self.seed, n_batch=self.n_batch, verbose=False)
        if self.lora_path:
            kwargs["lora_path"] = self.lora_path
        if self.chat_format:
            kwargs["chat_format"] = self.chat_format
        if self.grammar_first:
            from logreasoner.lm.grammar_first import grammar_first_llama_class

            Llama = grammar_first_llama_class()  # noqa: N806
        try:
            self._llm = Llama(**kwargs)
        except (ValueError, RuntimeError) as e:
            raise ModelUnavailableError(f"llama.cpp could not load {self.model_path}: {e}",
                                        "check that the file is a complete GGUF model") from None
        if self.prompt_cache_mb > 0:
            from llama_cpp import LlamaRAMCache

            self._llm.set_cache(LlamaRAMCache(capacity_bytes=self.prompt_cache_mb << 20))
        if self.grammar_first and self.schema_drafts:
            from logreasoner.lm.schema_draft import SchemaDraft

            self._llm.draft_model = SchemaDraft(self._llm)  # set after load: Llama(draft_model=...) keeps all logits
        if self.grammar_first:
            self._llm.repeat_guard_n = self.repeat_guard
        return self._llm

    def _generate(self, messages, *, schema, max_tokens, temperature, stop, seed, top_p):
        llm = self._load()
        if llm.draft_model is not None:  # the SchemaDraft _load attached
            llm.draft_model.schema = schema
        kwargs = dict(messages=messages, max_tokens=max_tokens, temperature=temperature, stop=stop or None,
                      repeat_penalty=self.repeat_penalty)
        if top_p is not None:
            kwargs["top_p"] = top_p
        if seed is not None:
            kwargs["seed"] = seed
        if schema is not None:  # the grammar itself, not response_format (which would fall back to any JSON)
            kwargs["grammar"] = schema_grammar(schema)
        try:
            out = llm.create_chat_completion(**kwargs)
        except ValueError as e:
            if "exceed context window" in str(e):
                raise ModelUnavailableError(
                    f"the prompt is longer than the model's context ({self.n_ctx} tokens)",
                    "show fewer templates (--max-templates) or shorter lines",
                ) from None
            raise
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return (choice["message"].get("content") or "", int(usage.get("prompt_tokens", 0)),
                int(usage.get("completion_tokens", 0)), choice.get("finish_reason") or "stop")

    def close(self) -> None:
        with self._lock:
            if self._llm is not None:
                try:
                    self._llm.close()
                except Exception:  # llama_cpp may already be torn down at interpreter exit
                    pass
                self._llm = None
