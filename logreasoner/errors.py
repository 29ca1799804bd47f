"""Errors that say what went wrong and what to do about it.

Every error the toolkit raises on purpose is a :class:`LogReasonerError`; the CLI prints its one-line
message (and its hint) and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

__all__ = [
    "LogReasonerError",
    "InputError",
    "UnknownTaskError",
    "ModelUnavailableError",
    "MissingAPIKeyError",
    "ConfigError",
]


class LogReasonerError(Exception):
    """Base class: ``message`` says what is wrong, ``hint`` says how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)

    def one_line(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class InputError(LogReasonerError):
    """Bad input: a missing file, an unreadable path, an empty log, a bad column mapping."""


class UnknownTaskError(LogReasonerError):
    """A task name that is not registered."""


class ModelUnavailableError(LogReasonerError):
    """A model spec that cannot be resolved or loaded here."""

    exit_code = 3


class MissingAPIKeyError(ModelUnavailableError):
    """A hosted model whose API key is not in the environment."""


class ConfigError(LogReasonerError):
    """A settings or config file value that fails validation."""
