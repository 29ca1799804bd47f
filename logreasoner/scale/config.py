"""Settings of the scale layer, validated on creation, read from ``LOGREASONER_SCALE_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ScaleSettings", "get_scale_settings"]


class ScaleSettings(BaseSettings):
    """How wide to fan out, where the answer cache lives, how much session state to keep.

    Override with environment variables, e.g. ``LOGREASONER_SCALE_CONCURRENCY=32``.
    """

    model_config = SettingsConfigDict(env_prefix="LOGREASONER_SCALE_", extra="ignore")

    concurrency: int = Field(8, ge=1, le=256, description="Most model requests in flight at once (remote models).")
    cache_path: Path | None = Field(None, description="Answer cache file; default <cache_dir>/answers.sqlite.")
    examples_per_template: int = Field(1, ge=1, le=20, description="Example lines the model sees per template.")
    max_session_templates: int = Field(256, ge=1, le=100_000, description="Cap on a session's template sequence.")
    max_open_sessions: int = Field(100_000, ge=1, description="Open sessions kept; the least recently active is "
                                                             "closed when there are more.")
    max_line_chars: int = Field(2000, ge=80, description="Longer lines are cut (with a marker) before mining.")
    spool_dir: Path | None = Field(None, description="Folder for the temporary per-line spool (default: system temp).")

    @field_validator("cache_path", "spool_dir")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return Path(v).expanduser() if v is not None else None

    def resolved_cache_path(self) -> Path:
        """The answer cache file: the explicit setting, else ``answers.sqlite`` in the toolkit's cache dir."""
        if self.cache_path is not None:
            return self.cache_path
        from logreasoner.settings import get_settings

        return get_settings().cache_dir / "answers.sqlite"


def get_scale_settings(**overrides) -> ScaleSettings:
    """Fresh scale settings from the environment plus explicit overrides (validated)."""
    return ScaleSettings(**overrides)
