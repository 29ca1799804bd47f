"""A fixed, seeded train/dev/test split by hashing, and a stable order inside each split.

The split key is the normalised log text, so every record about the same log (LogLM asks several questions of
one log) lands in the same split: nothing seen in training leaks into dev or test. The order inside a split is
a second hash of the record id, so ``limit=N`` takes a stable pseudo-random sample rather than the file's head.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["SPLITS", "SPLIT_FRACTIONS", "assign_split", "order_key", "check_split"]

SPLITS = ("train", "dev", "test", "all")
SPLIT_FRACTIONS = {"train": 0.6, "dev": 0.2, "test": 0.2}


def _unit(text: str) -> float:
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def assign_split(key: str, seed: int = 0) -> str:
    """'train', 'dev' or 'test' for a split key (60/20/20), fixed for a given seed."""
    u = _unit(f"split\x00{seed}\x00{_norm(key)}")
    if u < SPLIT_FRACTIONS["train"]:
        return "train"
    if u < SPLIT_FRACTIONS["train"] + SPLIT_FRACTIONS["dev"]:
        return "dev"
    return "test"


def order_key(record_id: str, seed: int = 0) -> float:
    """Position of a record inside its split (a stable shuffle)."""
    return _unit(f"order\x00{seed}\x00{record_id}")


def check_split(split: str) -> str:
    from logreasoner.errors import InputError

    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}", f"choose one of {', '.join(SPLITS)}")
    return split
