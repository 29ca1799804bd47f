"""The thought store as the toolkit's default retriever.

Registered as the ``default`` entry point of the ``logreasoner.retrievers`` group (pyproject), which
:func:`logreasoner.contracts.retrieval.default_retriever` loads: the programs below this package retrieve from
the shipped library without importing it.
"""

from __future__ import annotations

import logging

from logreasoner.settings import get_settings
from logreasoner.thoughts_db.store import ThoughtStore

__all__ = ["default_store"]


_WARNED = False


def default_store() -> ThoughtStore:
    """``ThoughtStore.default()`` with embeddings as the settings ask (``LOGREASONER_EMBEDDINGS=0`` turns them off).

    Without the embedder (neither the ``[embed]`` extra nor pulled with the embedded LM) retrieval is lexical, which
    hands the shipped student other plans than those it was trained with: said once per process."""
    global _WARNED
    use = get_settings().embeddings
    if use is None and not _WARNED:
        from logreasoner.thoughts_db.embed import embeddings_available

        if not embeddings_available():
            _WARNED = True
            logging.getLogger(__name__).warning(
                "retrieval of expert plans is lexical only (no sentence embedder here); the embedded student was "
                "trained with hybrid retrieval: run 'logreasoner models pull local' to fetch the embedder")
    return ThoughtStore.default(embeddings=False if use is False else None)
