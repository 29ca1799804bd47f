"""all-MiniLM-L6-v2 in numpy: the same sentence vectors as sentence-transformers, without importing torch.

sentence-transformers takes ~8 s to import on this 2-core machine (it pulls in transformers and torch); a
`logreasoner analyze` or an MCP server start with the ``embed`` extra paid that before its first retrieval. The
model is a 6-layer BERT (384 wide, 12 heads): this module reads its safetensors weights and its ``tokenizer.json``
(the Rust ``tokenizers`` package, which the extra installs anyway), runs the encoder in float32 numpy and applies
the model's pooling (the mean over tokens) and normalisation. tests/thoughts_db/test_minilm_numpy.py checks the
vectors against sentence-transformers' (cosine >= 0.9999 on varied texts, including texts cut at 256 tokens).
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np

__all__ = ["NumpyMiniLM"]


def _erf(x: np.ndarray) -> np.ndarray:
    """erf, Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7): BERT's exact GELU without scipy."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


class NumpyMiniLM:
    """A sentence-transformers BERT model folder (Transformer -> mean Pooling -> Normalize) run in numpy."""

    def __init__(self, folder: str | Path, batch_size: int = 32) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        cfg = json.loads((folder / "config.json").read_text())
        if cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu":
            raise ValueError(f"{folder} is not a BERT model with GELU activations")
        st = json.loads((folder / "sentence_bert_config.json").read_text())
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
        if not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError(f"{folder}: only mean pooling is implemented")
        self.heads, self.layers = int(cfg["num_attention_heads"]), int(cfg["num_hidden_layers"])
        self.eps = float(cfg["layer_norm_eps"])
        self.max_len = int(st.get("max_seq_length", 256))
        self.batch_size = batch_size
        self.w = load_file(str(folder / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_len)
        self.tokenizer.no_padding()
        self._lock = threading.Lock()

    def _layer(self, h: np.ndarray, bias: np.ndarray, i: int) -> np.ndarray:
        w = self.w
        p = f"encoder.layer.{i}."
        n, t, d = h.shape
        k = d // self.heads

        def proj(name: str) -> np.ndarray:
            out = h @ w[p + f"attention.self.{name}.weight"].T + w[p + f"attention.self.{name}.bias"]
            return out.reshape(n, t, self.heads, k).transpose(0, 2, 1, 3)

        q, key, v = proj("query"), proj("key"), proj("value")
        scores = q @ key.transpose(0, 1, 3, 2) / math.sqrt(k) + bias
        scores -= scores.max(-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(n, t, d)
        attn = ctx @ w[p + "attention.output.dense.weight"].T + w[p + "attention.output.dense.bias"]
        h = _layer_norm(attn + h, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                        self.eps)
        mid = _gelu(h @ w[p + "intermediate.dense.weight"].T + w[p + "intermediate.dense.bias"])
        out = mid @ w[p + "output.dense.weight"].T + w[p + "output.dense.bias"]
        return _layer_norm(out + h, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)

    def _batch(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(texts)
        t = max(len(e.ids) for e in enc)
        ids = np.zeros((len(enc), t), dtype=np.int64)
        types = np.zeros((len(enc), t), dtype=np.int64)
        mask = np.zeros((len(enc), t), dtype=np.float32)
        for r, e in enumerate(enc):
            ids[r, : len(e.ids)] = e.ids
            types[r, : len(e.ids)] = e.type_ids
            mask[r, : len(e.ids)] = 1.0
        w = self.w
        h = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t][None]
             + w["embeddings.token_type_embeddings.weight"][types])
        h = _layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]  # padded keys get no attention
        for i in range(self.layers):
            h = self._layer(h, bias, i)
        pooled = (h * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text (similar lengths batched together)."""
        texts = [str(x) for x in texts]
        out = np.zeros((len(texts), self.w["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with self._lock:
            for s in range(0, len(order), self.batch_size):
                idx = order[s: s + self.batch_size]
                out[idx] = self._batch([texts[i] for i in idx])
        return out
