"""Greedy grammar-constrained decoding without checking the whole vocabulary at every token.

llama-cpp-python puts the JSON-schema grammar in the sampler chain before the greedy pick, so at every step the
grammar tests all ~49k vocabulary entries; for a 135M model that costs more than the forward pass (measured here:
11.5 tokens/s constrained vs 37 free on one thread). llama.cpp's own samplers avoid it: pick first, test only
the picked token against the grammar, and fall back to the full grammar pass only when the pick is illegal.

``GrammarFirstLlama`` is a ``llama_cpp.Llama`` whose greedy grammar requests (temperature 0, no logits
processor) get that chain. The result is the same token: if the unconstrained argmax is legal it is also the
argmax among legal tokens. Sampling at a temperature keeps llama-cpp-python's chain unchanged.

The class also runs llama-cpp-python's draft loop for ``SchemaDraft`` (logreasoner.lm.schema_draft): the tokens a
JSON schema forces are checked in one batch instead of one pass each; and, when ``repeat_guard_n`` is set, the
pick skips the tokens ``RepeatGuard`` (logreasoner.lm.repeat_guard) bans: those that would loop inside a string.
"""

from __future__ import annotations

import ctypes
import math
import weakref
from typing import Any

__all__ = ["GrammarFirstLlama", "grammar_first_llama_class"]

_CLASS: Any = None


class _GrammarFirstPick:
    """A custom llama.cpp sampler: keep only the argmax when the grammar allows it, else apply the grammar."""

    def __init__(self, model: Any, grammar: Any, guard: Any = None, never: Any = None) -> None:
        import llama_cpp
        import numpy as np

        self._np = np
        self.guard = guard
        self.never = never  # token ids never written (control tokens that do not end the answer)
        self._cpp = llama_cpp
        self.grammar = llama_cpp.llama_sampler_init_grammar(
            model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8"))
        if not self.grammar:
            raise ValueError("llama.cpp could not compile the grammar")
        weakref.finalize(self, llama_cpp.llama_sampler_free, self.grammar)
        self._one = (llama_cpp.llama_token_data * 1)()
        self._one_arr = llama_cpp.llama_token_data_array(
            data=ctypes.cast(self._one, llama_cpp.llama_token_data_p), size=1, selected=-1, sorted=False)
        self._dtype = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)

        def apply(_smpl: Any, cur_p: Any) -> None:
            self._apply(cur_p)

        def accept(_smpl: Any, token: int) -> None:
            llama_cpp.llama_sampler_accept(self.grammar, token)
            if self.guard is not None:
                self.guard.accept(token)

        def reset(_smpl: Any) -> None:
            llama_cpp.llama_sampler_reset(self.grammar)

        iface = llama_cpp.llama_sampler_i()
        iface.name = llama_cpp.llama_sampler_i_name(0)
        iface.accept = llama_cpp.llama_sampler_i_accept(accept)
        iface.apply = llama_cpp.llama_sampler_i_apply(apply)
        iface.reset = llama_cpp.llama_sampler_i_reset(reset)
        iface.clone = llama_cpp.llama_sampler_i_clone(0)
        iface.free = llama_cpp.llama_sampler_i_free(0)
        self._refs = (apply, accept, reset, iface)  # the C side holds raw pointers to these
        self.sampler = llama_cpp.llama_sampler()
        self.sampler.iface = ctypes.pointer(iface)
        self.sampler.ctx = None

    def get_sampler(self) -> Any:
        return ctypes.pointer(self.sampler)

    def _apply(self, cur_p: Any) -> None:
        cpp, np = self._cpp, self._np
        arr = cur_p.contents
        n = int(arr.size)
        buf = (cpp.llama_token_data * n).from_address(ctypes.addressof(arr.data.contents))
        rec = np.frombuffer(buf, dtype=self._dtype, count=n)
        logits = rec["logit"]
        if self.never is not None and len(self.never):
            # llama.cpp's grammar reads a control token as its text ("<|im_start|>" is legal inside a JSON string)
            if n > int(self.never[-1]) and int(rec["id"][int(self.never[-1])]) == int(self.never[-1]):
                logits[self.never] = -math.inf  # the candidates are the vocabulary in id order (the usual case)
            else:
                logits[np.isin(rec["id"], self.never)] = -math.inf
        banned = self.guard.banned() if self.guard is not None else None
        held = None
        if banned:
            mask = np.isin(rec["id"], banned)
            held = mask, logits[mask].copy()
            if mask[int(np.argmax(logits))]:
                self.guard.bans += 1  # the model's first choice would have repeated the string's own words
            logits[mask] = -math.inf
        i = int(np.argmax(logits))
        one = self._one[0]
        one.id, one.logit, one.p = int(rec["id"][i]), float(logits[i]), 0.0
        self._one_arr.size, self._one_arr.selected, self._one_arr.sorted = 1, -1, False
        cpp.llama_sampler_apply(self.grammar, ctypes.byref(self._one_arr))
        if math.isfinite(self._one[0].logit):  # the pick is legal: it is also the best legal token
            best = float(logits[i])
            logits[:] = -math.inf
            logits[i] = best
            return
        cpp.llama_sampler_apply(self.grammar, cur_p)
        if held is not None and not np.isfinite(logits).any():  # every legal token was banned: let them be
            mask, values = held
            logits[mask] = values
            cpp.llama_sampler_apply(self.grammar, cur_p)


def grammar_first_llama_class() -> Any:
    """The ``Llama`` subclass (built on first use, so llama_cpp is imported lazily)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import llama_cpp
    from llama_cpp import Llama
    from llama_cpp import _internals as internals

    class GrammarFirstLlama(Llama):
        def _init_sampler(self, **kw: Any) -> Any:  # llama-cpp-python calls it with keywords only
            grammar = kw.get("grammar")
            if grammar is None or kw.get("temp", 0.8) != 0.0 or kw.get("logits_processor") is not None:
                return super()._init_sampler(**kw)
            sampler = internals.LlamaSampler()
            if (kw.get("repeat_penalty", 1.0) != 1.0 or kw.get("frequency_penalty", 0.0)
                    or kw.get("presence_penalty", 0.0)):
                sampler.add_penalties(n_vocab=self._n_vocab, penalty_last_n=self.last_n_tokens_size,
                                      penalty_repeat=kw.get("repeat_penalty", 1.0),
                                      penalty_freq=kw.get("frequency_penalty", 0.0),
                                      penalty_present=kw.get("presence_penalty", 0.0))
            guard = None
            if getattr(self, "repeat_guard_n", 0):
                from logreasoner.lm.repeat_guard import RepeatGuard

                guard = RepeatGuard(lambda t: self.detokenize([t]).decode("utf-8", errors="ignore"),
                                    n=self.repeat_guard_n)
            self.repeat_guard = guard  # the last request's guard (its ban count), for benchmarks and tests
            pick = _GrammarFirstPick(self._model, grammar, guard, self._never_tokens())
            llama_cpp.llama_sampler_chain_add(sampler.sampler, pick.get_sampler())
            # LlamaSampler removes custom samplers from the chain before freeing it (they are Python-owned)
            sampler.custom_samplers.append((llama_cpp.llama_sampler_chain_n(sampler.sampler) - 1, pick))
            sampler.add_greedy()
            return sampler

        def _never_tokens(self) -> Any:
            """Control tokens that do not end generation (``<|im_start|>``...): never part of an answer."""
            never = getattr(self, "_never", None)
            if never is None:
                import numpy as np

                vocab = self._model.vocab
                never = np.array([t for t in range(self._n_vocab) if llama_cpp.llama_vocab_is_control(vocab, t)
                                  and not llama_cpp.llama_vocab_is_eog(vocab, t)], dtype=np.int64)
                self._never = never
            return never

        # The RAM prompt cache saves a state after every answer and loads one before a prompt that shares a longer
        # prefix with it. llama-cpp-python's states carry a copy of ``scores`` (a row of n_vocab logits per token, up
        # to n_batch rows: 100 MB for a 512-token prompt of a 49k-token vocabulary), copied again on load and not
        # counted against the cache's capacity: 0.11 s to save and 0.25 s to load a 205-token state here. Nothing on
        # this class's paths reads those rows (samplers read the context's logits, which the llama.cpp state holds),
        # so its states keep the llama.cpp state, the token ids and the seed only.
        def save_state(self) -> Any:
            import numpy as np
            from llama_cpp.llama import LlamaState

            size = int(llama_cpp.llama_state_get_size(self._ctx.ctx))
            buf = (ctypes.c_uint8 * size)()
            n_bytes = int(llama_cpp.llama_state_get_data(self._ctx.ctx, buf, size))
            if n_bytes > size:
                raise RuntimeError("llama.cpp wrote more state than it announced")
            return LlamaState(scores=np.empty((0, self._n_vocab), dtype=np.single), input_ids=self.input_ids.copy(),
                              n_tokens=self.n_tokens, llama_state=ctypes.string_at(buf, n_bytes),
                              llama_state_size=n_bytes, seed=self._seed)

        def load_state(self, state: Any) -> None:
            if len(state.scores):  # a state saved with its logits rows (by llama-cpp-python's own save_state)
                return super().load_state(state)
            self.input_ids = state.input_ids.copy()
            self.n_tokens = state.n_tokens
            self._requires_eval = True
            self._seed = state.seed
            data = (ctypes.c_uint8 * state.llama_state_size).from_buffer_copy(state.llama_state)
            if llama_cpp.llama_state_set_data(self._ctx.ctx, data, state.llama_state_size) != state.llama_state_size:
                raise RuntimeError("llama.cpp could not restore a saved state")

        # Schema drafts (logreasoner.lm.schema_draft): the draft model needs the prompt's length, and a batch that
        # checks a draft needs the logits of every position in it, while a prompt needs only its last one.
        # (Llama(draft_model=...) would keep the logits of every token of every prompt: n_ctx x n_vocab floats.)
        def generate(self, tokens: Any, *args: Any, **kw: Any) -> Any:
            from logreasoner.lm.schema_draft import SchemaDraft

            if isinstance(self.draft_model, SchemaDraft):
                self.draft_model.start = len(tokens)
                self._prompt_pending = True
            return super().generate(tokens, *args, **kw)

        def eval(self, tokens: Any) -> None:
            from logreasoner.lm.schema_draft import SchemaDraft

            if self._logits_all or not isinstance(self.draft_model, SchemaDraft):
                return super().eval(tokens)
            every = not getattr(self, "_prompt_pending", False)
            self._prompt_pending = False
            if every and tokens:
                self.draft_model.passes += 1
            self._ctx.kv_cache_seq_rm(-1, self.n_tokens, -1)
            for i in range(0, len(tokens), self.n_batch):
                batch = tokens[i:i + self.n_batch]
                n_past = self.n_tokens
                self._batch.set_batch(batch=batch, n_past=n_past, logits_all=every)
                self._ctx.decode(self._batch)
                self.input_ids[n_past:n_past + len(batch)] = batch
                self.n_tokens += len(batch)
                self._requires_eval = False
            return None

    _CLASS = GrammarFirstLlama
    return _CLASS


def __getattr__(name: str) -> Any:
    if name == "GrammarFirstLlama":
        return grammar_first_llama_class()
    raise AttributeError(name)
