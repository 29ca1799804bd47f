"""A faster Drain3 masker with the same output as the toolkit's masks (``logreasoner.logs.templates``).

Masking is most of the cost of template mining. Drain3 runs every mask regex over every line; the masks begin
with ``((?<=[^A-Za-z0-9])|^)``, an alternation Python's regex engine tries at every position. This masker uses
logically equivalent patterns (``(?<![A-Za-z0-9])``: "not preceded by a letter or digit" is the same as
"preceded by a non-alphanumeric character, or at the start") and skips a mask when the line lacks a character
the mask cannot match without (``:`` for IDs, ``.`` for IPs, ``0x`` for hex, ``blk_`` for block ids). The output
is identical (tested line for line on the twelve Loghub-2k systems); it is about twice as fast.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["FAST_MASKS", "DERIVED_FROM", "FastMasker", "make_fast_miner", "fast_masking_active"]

_NB, _NA = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"

# (name, pattern, substring the line must contain for the mask to match at all, or None)
# Same order and meaning as logreasoner.logs.templates._MASKS.
FAST_MASKS: list[tuple[str, str, str | None]] = [
    ("ID", _NB + r"(?:[0-9a-f]{2,}:){3,}[0-9a-f]{2,}" + _NA, ":"),
    ("IP", _NB + r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d+)?" + _NA, "."),
    ("HEX", _NB + r"0x[a-fA-F0-9]+" + _NA, "0x"),
    ("NUM", _NB + r"[\-\+]?\d+(?:\.\d+)?" + _NA, None),
    ("BLK", r"blk_-?\d+", "blk_"),
]


# The masks FAST_MASKS was derived from: when logreasoner.logs.templates changes its masks, make_fast_miner keeps
# Drain3's own masker (correct, slower) until FAST_MASKS is updated to match.
DERIVED_FROM: list[tuple[str, str]] = [
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(:\d+)?)((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-fA-F0-9]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+(\.\d+)?)((?=[^A-Za-z0-9])|$)", "NUM"),
    (r"(blk_-?\d+)", "BLK"),
]


class FastMasker:
    """Drop-in for ``drain3.masking.LogMasker`` (it only needs ``mask``)."""

    def __init__(self, masks: list[tuple[str, str, str | None]] | None = None) -> None:
        self._masks = [(re.compile(p), f"<{name}>", need) for name, p, need in (masks or FAST_MASKS)]

    def mask(self, content: str) -> str:
        for rx, repl, need in self._masks:
            if need is None or need in content:
                content = rx.sub(repl, content)
        return content


def make_fast_miner(sim_th: float = 0.4, depth: int = 4) -> Any:
    """The toolkit's Drain3 miner (same masks and parameters) with :class:`FastMasker` in place of Drain3's."""
    from logreasoner.logs import templates

    miner = templates.make_template_miner(sim_th=sim_th, depth=depth)
    if list(templates._MASKS) == DERIVED_FROM:
        miner.masker = FastMasker()
    return miner


def fast_masking_active(miner: Any) -> bool:
    return isinstance(getattr(miner, "masker", None), FastMasker)
