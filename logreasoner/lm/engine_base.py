"""The in-process engine contract shared by the llama.cpp and transformers backends (DSPy 3.4 engines).

An engine turns one ``dspy.lm15.Request`` into one ``Response``. When the request carries a JSON-schema
``response_format`` (DSPy's JSONAdapter sets one because the engine declares ``supports_response_schema``),
generation is constrained to that schema — capped so tiny models stay inside ``max_tokens``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LocalEngine", "GenerationStats"]


@dataclass
class GenerationStats:
    """Counters an engine keeps across calls (thread-safe updates under the engine lock)."""

    calls: int = 0
    constrained_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    finish_length: int = 0  # answers cut off at max_tokens (each attempt counted)
    budget_retries: int = 0  # constrained answers asked again with caps sized to the budget
    per_call: list[dict] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.output_tokens / self.seconds if self.seconds else 0.0


class LocalEngine:
    """Base class: message flattening, schema handling, stats, locking. Subclasses implement ``_generate``."""

    supports_response_schema = True
    serial = True  # one generation at a time (see logreasoner.lm.engines.is_serial)
    supports_function_calling = False
    supports_reasoning = False
    supported_params = frozenset({"response_format", "temperature", "max_tokens", "stop", "seed", "top_p"})

    default_max_tokens = 1024
    # the compact prompt layout these weights were trained on (logreasoner.programs.compact.PROMPT_LAYOUTS);
    # load_lm sets it from a tuned student's card or manifest; None: the default layout
    prompt_layout: str | None = None

    def __init__(self, *, constrained: bool = True, max_string: int = 200, max_items: int = 5) -> None:
        self.constrained = constrained
        self.max_string = max_string
        self.max_items = max_items
        self.stats = GenerationStats()
        self._lock = threading.RLock()

    @classmethod
    def load_state(cls, state: dict) -> "LocalEngine":
        """An engine from its ``dump_state()``: the constructor's arguments, plus the prompt layout when saved."""
        state = dict(state)
        layout = state.pop("prompt_layout", None)
        engine = cls(**state)
        engine.prompt_layout = layout
        return engine

    # -- subclass hooks -------------------------------------------------------------------------------------------
    def _generate(
        self, messages: list[dict], *, schema: dict | None, max_tokens: int, temperature: float,
        stop: list[str], seed: int | None, top_p: float | None,
    ) -> tuple[str, int, int, str]:
        """Return (text, input_tokens, output_tokens, finish_reason)."""
        raise NotImplementedError  # abstract: LlamaCppEngine and TransformersEngine implement it

    def _load(self) -> object:
        """Load the model if it is not loaded yet (subclasses); called under the lock before timing."""
        return None

    @property
    def model_name(self) -> str:
        return type(self).__name__

    # -- the engine contract --------------------------------------------------------------------------------------
    @staticmethod
    def request_messages(request: Any) -> list[dict]:
        messages: list[dict] = []
        if request.system is not None:
            system = request.system if isinstance(request.system, str) else "".join(
                getattr(p, "text", "") or "" for p in request.system
            )
            messages.append({"role": "system", "content": system})
        for m in request.messages:
            role = m.role if m.role in ("user", "assistant", "system") else "user"
            messages.append({"role": role, "content": m.text or ""})
        return messages

    def request_schema(self, request: Any) -> dict | None:
        from logreasoner.lm.schema import cap_schema

        raw = self._raw_schema(request)
        return None if raw is None else cap_schema(raw, max_string=self.max_string, max_items=self.max_items)

    def _raw_schema(self, request: Any) -> dict | None:
        from logreasoner.lm.schema import schema_from_response_format

        if not self.constrained:
            return None
        return schema_from_response_format(request.config.response_format)

    def _budget_schema(self, request: Any, max_tokens: int) -> dict | None:
        """For a retry after a cut-off answer: the schema with caps small enough that its longest output fits in
        ``max_tokens`` (a weak model that loops inside a string then still finishes its JSON)."""
        from logreasoner.lm.schema import cap_schema, caps_for_budget

        raw = self._raw_schema(request)
        if raw is None:
            return None
        caps = caps_for_budget(raw, max_tokens, max_string=max(16, self.max_string // 2), max_items=self.max_items)
        return None if caps is None else cap_schema(raw, max_string=caps[0], max_items=caps[1])

    def complete(self, request: Any) -> Any:
        from dspy.clients.engines.base import validate_request
        from dspy.lm15 import Message, Response, Usage

        validate_request(request)
        cfg = request.config
        messages = self.request_messages(request)
        schema = self.request_schema(request)
        max_tokens = int(cfg.max_tokens or self.default_max_tokens)
        temperature = 0.0 if cfg.temperature is None else float(cfg.temperature)
        with self._lock:
            self._load()  # loading is not generation: keep it out of the timings
            t0 = time.perf_counter()
            text, n_in, n_out, finish = self._generate(
                messages, schema=schema, max_tokens=max_tokens, temperature=temperature,
                stop=list(cfg.stop or ()), seed=cfg.seed, top_p=cfg.top_p,
            )
            s = self.stats
            if schema is not None and finish == "length":
                # cut off mid-JSON: ask once more with caps sized to the budget (unparseable text helps no one);
                # the usage reported covers both attempts
                tight = self._budget_schema(request, max_tokens)
                if tight is not None:
                    s.budget_retries += 1
                    s.finish_length += 1
                    text, n_in2, n_out2, finish = self._generate(
                        messages, schema=tight, max_tokens=max_tokens, temperature=temperature,
                        stop=list(cfg.stop or ()), seed=cfg.seed, top_p=cfg.top_p,
                    )
                    n_in, n_out = n_in + n_in2, n_out + n_out2
            dt = time.perf_counter() - t0
            s.calls += 1
            s.constrained_calls += int(schema is not None)
            s.input_tokens += n_in
            s.output_tokens += n_out
            s.seconds += dt
            s.finish_length += int(finish == "length")
            if len(s.per_call) < 10000:
                s.per_call.append({"in": n_in, "out": n_out, "s": round(dt, 4), "constrained": schema is not None})
        return Response(
            id=None, model=self.model_name, message=Message.assistant(text),
            finish_reason="length" if finish == "length" else "stop",
            usage=Usage(input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out),
        )

    def stream(self, request: Any):
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        """Release the model (it loads again on the next call)."""
