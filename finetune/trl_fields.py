"""``[sft.trl]`` / ``[dpo.trl]`` tables checked against TRL's ``SFTConfig`` / ``DPOConfig`` fields: an unknown key
(with the closest field names) or a value of the wrong type fails when the config is built, naming the table and
the key, not when the stage starts. TRL is imported here, lazily; without it (the ``finetune`` extra is not
installed) there is nothing to check against and the stages say what to install when they run.
"""

from __future__ import annotations

import difflib
import functools
import types
import typing
from typing import Any

from logreasoner.errors import ConfigError

__all__ = ["check_trl_table", "TOOLKIT_VALUES"]

# Values this toolkit resolves before TRL sees them (finetune/precision.py: "auto" = where the hardware has it).
TOOLKIT_VALUES: dict[str, tuple[Any, ...]] = {"bf16": ("auto",)}


@functools.lru_cache(maxsize=None)
def _fields(config_class: str) -> dict[str, Any] | None:
    """Field name -> annotation of ``trl.<config_class>`` (None without TRL)."""
    import dataclasses

    try:
        import trl
    except ImportError:
        return None
    cls = getattr(trl, config_class)
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations: check names only
        hints = {}
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def _type_ok(value: Any, annotation: Any) -> bool:
    """Whether a TOML value fits a TRL config field's annotation (the simple types TOML can carry)."""
    if annotation is Any or isinstance(annotation, str):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if isinstance(annotation, type):
        if issubclass(annotation, str):  # str enums (SchedulerType, ...) take their string values
            return isinstance(value, str)
        return isinstance(value, annotation) or isinstance(value, (str, int, float, bool, list, dict))
    return True


def check_trl_table(where: str, config_class: str, table: dict[str, Any] | None) -> None:
    """Every key of ``table`` (the ``[where]`` table) a field of ``trl.<config_class>``, with a value of its type."""
    fields = _fields(config_class) if table else None
    if fields is None:
        return
    for key, value in table.items():
        if key not in fields:
            near = difflib.get_close_matches(key, list(fields), n=3)
            raise ConfigError(f"[{where}] has no setting {key!r} in TRL's {config_class}",
                              "did you mean " + " or ".join(repr(n) for n in near) + "?" if near
                              else f"see trl.{config_class} for its fields")
        if value in TOOLKIT_VALUES.get(key, ()):
            continue
        if not _type_ok(value, fields[key]):
            raise ConfigError(f"[{where}] {key} = {value!r} is not a valid {config_class}.{key} ({fields[key]})",
                              "fix the value's type in the config file")
