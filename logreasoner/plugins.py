"""Installed packages extend the toolkit through entry points: one loader for every group.

Groups: ``logreasoner.tasks`` (tasks), ``logreasoner.engines`` (in-process engines), ``logreasoner.datasets``
(eval datasets), ``logreasoner.finetune_stages`` (finetune stages) and ``logreasoner.retrievers`` (the default
retriever). A plugin that fails to load is a warning naming it; it never breaks the toolkit.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from typing import Any, Callable, Iterator

__all__ = ["entry_point_objects", "register_entry_points"]


def entry_point_objects(group: str) -> Iterator[tuple[str, Any]]:
    """``(name, object)`` for each entry point of ``group`` that loads; one that raises is a warning."""
    for ep in importlib.metadata.entry_points(group=group):
        try:
            obj = ep.load()
        except Exception as e:  # a broken plugin must not break the toolkit; say which one
            warnings.warn(f"{group} entry point {ep.name!r} failed to load: {e}", stacklevel=3)
            continue
        yield ep.name, obj


def register_entry_points(group: str, kind: type, register: Callable[[Any], Any],
                          known: Callable[[str], bool]) -> None:
    """Register every ``kind`` object the entry points of ``group`` name (an object, a list of them, or a function
    returning either), skipping names already ``known``; a plugin whose object fails to register is a warning."""
    for name, obj in entry_point_objects(group):
        try:
            items = obj() if callable(obj) and not isinstance(obj, kind) else obj
            for item in items if isinstance(items, (list, tuple)) else [items]:
                if isinstance(item, kind) and not known(item.name):
                    register(item)
        except Exception as e:
            warnings.warn(f"{group} entry point {name!r} failed to register: {e}", stacklevel=3)
