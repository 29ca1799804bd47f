"""An OpenAI-compatible chat-completions server (vLLM, SGLang, llama.cpp's server) as a DSPy 3.4 engine.

``load_lm("openai/<name>", api_base="http://host:8000/v1")`` runs through this engine rather than DSPy's
default client, because local servers differ from the hosted API in three ways that matter here:

- the token budget goes out as ``max_tokens`` (llama.cpp's server ignores ``max_completion_tokens`` and generates
  until its context is full);
- the answer's JSON schema goes out as a ``response_format``, capped like the in-process engines' schemas, so a
  small model's structured output is constrained on the server. The OpenAI form (``json_schema``) is sent first;
  a server that rejects it (llama-cpp-python's server accepts only ``{"type": "json_object", "schema": ...}``)
  gets that form from then on;
- time and retries are bounded: a connect timeout of a few seconds, a read timeout per call, at most ``retries``
  quick retries on connection errors and 502/503/504; a server that stays unreachable is a
  :class:`~logreasoner.errors.ModelUnavailableError` (exit 3) naming the address.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from logreasoner.errors import ModelUnavailableError
from logreasoner.lm.engine_base import LocalEngine

__all__ = ["OpenAIServerEngine"]

_RETRY_STATUS = {502, 503, 504}


class OpenAIServerEngine(LocalEngine):
    """Chat completions over HTTP against ``api_base`` (``.../v1``) for model ``model``."""

    serial = False  # the server queues requests itself: callers may send them in parallel

    def __init__(self, model: str, api_base: str, *, api_key: str | None = None, timeout: float = 120.0,
                 connect_timeout: float = 5.0, retries: int = 2, constrained: bool = True, max_string: int = 200,
                 max_items: int = 5) -> None:
        super().__init__(constrained=constrained, max_string=max_string, max_items=max_items)
        self._lock = contextlib.nullcontext()  # the server queues requests itself: calls may run in parallel
        self.model, self.api_base = model, api_base.rstrip("/")
        self.api_key = api_key
        self.timeout, self.connect_timeout, self.retries = float(timeout), float(connect_timeout), int(retries)
        self.schema_form: str = "json_schema"  # becomes "json_object" for servers that reject the OpenAI form
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return self.model

    @property
    def address(self) -> str:
        return urlsplit(self.api_base).netloc or self.api_base

    def dump_state(self) -> dict[str, Any]:
        return {"model": self.model, "api_base": self.api_base, "constrained": self.constrained,
                "max_string": self.max_string, "max_items": self.max_items}

    # -- HTTP -----------------------------------------------------------------------------------------------------
    def _http(self) -> Any:
        import httpx

        with self._client_lock:
            if self._client is None:
                headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
                self._client = httpx.Client(timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                                            headers=headers)
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _unavailable(self, why: str) -> ModelUnavailableError:
        return ModelUnavailableError(f"the model server at {self.api_base} {why}",
                                     "start it (or wait until it is up) and check --api-base; finished work is kept")

    def _post(self, body: dict) -> dict:
        import httpx

        url = f"{self.api_base}/chat/completions"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(4.0, 0.5 * 2 ** (attempt - 1)))
            try:
                r = self._http().post(url, json=body)
            except httpx.ReadTimeout:
                raise self._unavailable(f"did not answer within {self.timeout:.0f} s") from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError,
                    httpx.WriteError, httpx.PoolTimeout) as e:
                last = f"{type(e).__name__}: {e}"
                continue
            if r.status_code in _RETRY_STATUS:
                last = f"HTTP {r.status_code}"
                continue
            if r.status_code in (401, 403):
                raise ModelUnavailableError(f"the model server at {self.api_base} refused the key (HTTP "
                                            f"{r.status_code})", "pass the server's key (OPENAI_API_KEY)")
            if r.status_code == 404:
                raise ModelUnavailableError(f"the model server at {self.api_base} has no model {self.model!r} "
                                            "(HTTP 404)", "pass the name the server serves: GET /v1/models")
            if r.status_code >= 400:
                raise _RejectedRequest(r.status_code, r.text[:500])
            try:
                return r.json()
            except ValueError:
                raise self._unavailable("answered with something that is not JSON") from None
        raise self._unavailable(f"is not answering ({last}) after {self.retries + 1} attempts")

    @staticmethod
    def _response_format(schema: dict, form: str) -> dict:
        if form == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}

    # -- the engine hook ------------------------------------------------------------------------------------------
    def _generate(self, messages: list[dict], *, schema: dict | None, max_tokens: int, temperature: float,
                  stop: list[str], seed: int | None, top_p: float | None) -> tuple[str, int, int, str]:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                                "temperature": temperature}
        if stop:
            body["stop"] = stop
        if seed is not None:
            body["seed"] = seed
        if top_p is not None:
            body["top_p"] = top_p
        form = self.schema_form
        if schema is not None:
            body["response_format"] = self._response_format(schema, form)
        try:
            data = self._post(body)
        except _RejectedRequest as e:
            if schema is None or form != "json_schema" or "response_format" not in e.text:
                raise RuntimeError(f"the model server at {self.api_base} refused the request (HTTP {e.status}): "
                                   f"{e.text.splitlines()[0] if e.text else ''}") from None
            self.schema_form = "json_object"  # llama-cpp-python's dialect; remembered for the next calls
            body["response_format"] = self._response_format(schema, "json_object")
            try:
                data = self._post(body)
            except _RejectedRequest as again:
                raise RuntimeError(f"the model server at {self.api_base} refused the request (HTTP "
                                   f"{again.status}): {again.text.splitlines()[0] if again.text else ''}") from None
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise self._unavailable("answered without a choice") from None
        usage = data.get("usage") or {}
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        return text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0), finish


class _RejectedRequest(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status, self.text = status, text
