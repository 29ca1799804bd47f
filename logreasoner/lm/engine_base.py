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
    finish_length: int = 0
    per_call: list[dict] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.output_tokens / self.seconds if self.seconds else 0.0


class LocalEngine:
    """Base class: message flattening, schema handling, stats, locking. Subclasses implement ``_generate``."""

    supports_response_schema = True
    supports_function_calling = False
    supports_reasoning = False
    supported_params = frozenset({"response_format", "temperature", "max_tokens", "stop", "seed", "top_p"})

    default_max_tokens = 1024

    def __init__(self, *, constrained: bool = True, max_string: int = 200, max_items: int = 5) -> None:
        self.constrained = constrained
        self.max_string = max_string
        self.max_items = max_items
        self.stats = GenerationStats()
        self._lock = threading.RLock()

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
        from logreasoner.lm.schema import cap_schema, schema_from_response_format

        if not self.constrained:
            return None
        schema = schema_from_response_format(request.config.response_format)
        if schema is None:
            return None
        return cap_schema(schema, max_string=self.max_string, max_items=self.max_items)

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
            dt = time.perf_counter() - t0
            s = self.stats
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
