"""The thought store as the toolkit's default retriever.

Registered as the ``default`` entry point of the ``logreasoner.retrievers`` group (pyproject), which
:func:`logreasoner.contracts.retrieval.default_retriever` loads: the programs below this package retrieve from
the shipped library without importing it.
"""

from __future__ import annotations

from logreasoner.settings import get_settings
from logreasoner.thoughts_db.store import ThoughtStore

__all__ = ["default_store"]


def default_store() -> ThoughtStore:
    """``ThoughtStore.default()`` with embeddings as the settings ask (``LOGREASONER_EMBEDDINGS=0`` turns them off)."""
    use = get_settings().embeddings
    return ThoughtStore.default(embeddings=False if use is False else None)
