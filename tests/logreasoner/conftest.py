"""Fixtures for tests that run the embedded model in llama.cpp (marked ``model``): its GGUF path, or a skip."""

from __future__ import annotations

import pytest


def _embedded(name: str) -> str:
    pytest.importorskip("llama_cpp")
    from logreasoner.lm.registry import resolve_embedded

    try:
        return str(resolve_embedded(name, allow_download=False))
    except Exception:
        pytest.skip("embedded model not pulled (run: logreasoner models pull local)")


@pytest.fixture
def local_gguf() -> str:
    """The embedded model's weights (``local``: the base GGUF the shipped adapter applies to)."""
    return _embedded("local")


@pytest.fixture
def base_gguf() -> str:
    """The untuned embedded model's weights (``local-base``)."""
    return _embedded("local-base")
