"""The library's template vectors ship with it, and MiniLM runs in numpy with sentence-transformers' vectors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from logreasoner.thoughts_db.embed import _model_dir, embeddings_available
from logreasoner.thoughts_db.shipped_vectors import encode_with_shipped, shipped_vectors, text_key
from logreasoner.thoughts_db.vectors_build import library_texts

needs_model = pytest.mark.skipif(not embeddings_available(), reason="the embed extra is not installed")
TEXTS = ["kernel panic on node 12", "Failed password for invalid user admin from 10.0.0.1 port 22 ssh2", "",
         "ünïcødé → 日本語 テスト", "word " * 600, "PacketResponder 2 for block blk_8229193803249955061 terminating"]


def test_every_library_template_has_a_shipped_vector():
    known = shipped_vectors("all-MiniLM-L6-v2")
    missing = [t[:60] for t in library_texts() if text_key(t) not in known]
    assert not missing, ("the library changed: run `python -m logreasoner.thoughts_db.vectors_build` "
                         f"({len(missing)} templates without a vector, e.g. {missing[:2]})")
    assert all(abs(float(np.linalg.norm(v)) - 1.0) < 1e-4 for v in known.values())


class Counting:
    name = "all-MiniLM-L6-v2"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen += texts
        return np.ones((len(texts), 384), dtype=np.float32)


def test_only_texts_without_a_shipped_vector_are_embedded():
    library = library_texts()[:3]
    emb = Counting()
    out = encode_with_shipped(emb, [library[0], "a text of my own", library[1]])
    assert emb.seen == ["a text of my own"]
    known = shipped_vectors("all-MiniLM-L6-v2")
    np.testing.assert_array_equal(out[0], known[text_key(library[0])])
    np.testing.assert_array_equal(out[1], np.ones(384, dtype=np.float32))


@needs_model
def test_numpy_minilm_gives_sentence_transformers_vectors():
    st = pytest.importorskip("sentence_transformers")
    from logreasoner.thoughts_db.minilm_numpy import NumpyMiniLM

    ours = NumpyMiniLM(_model_dir()).encode(TEXTS)
    theirs = st.SentenceTransformer(str(_model_dir()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    assert float(np.min((ours * theirs).sum(1))) >= 0.9999
    sample = library_texts()[:2]
    shipped = shipped_vectors("all-MiniLM-L6-v2")
    for text, vec in zip(sample, NumpyMiniLM(_model_dir()).encode(sample)):
        assert float(vec @ shipped[text_key(text)]) >= 0.9999


@needs_model
def test_a_query_is_embedded_without_importing_torch():
    code = ("import sys; from logreasoner.thoughts_db.embed import default_embedder; "
            "v = default_embedder().encode(['disk full on /var']); "
            "print(v.shape, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["(1,", "384)", "False", "False"]
