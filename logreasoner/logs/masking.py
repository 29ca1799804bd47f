"""Masking the variable parts of a log line (ids, IPs, hex, numbers, block ids) before Drain3 mines templates.

Masking is most of the cost of template mining. Drain3's own masker runs every regex over every line, and the
usual Drain3 masks begin with ``((?<=[^A-Za-z0-9])|^)``, an alternation Python's regex engine tries at every
position. :data:`MASKS` uses the equivalent ``(?<![A-Za-z0-9])`` ("not preceded by a letter or digit" is
"preceded by a non-alphanumeric character, or at the start"), and :class:`Masker` skips a mask when the line
lacks a substring the mask cannot match without (``:`` for ids, ``.`` for IPs, ``0x`` for hex, ``blk_`` for
block ids). Its output equals Drain3's masker over the usual patterns (tested line for line on the Loghub-2k
systems) at about twice the speed.
"""

from __future__ import annotations

import re

__all__ = ["MASKS", "Masker"]

_NB, _NA = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"

# (name, pattern, substring a line must contain for the pattern to match at all, or None), applied in this order
MASKS: tuple[tuple[str, str, str | None], ...] = (
    ("ID", _NB + r"(?:[0-9a-f]{2,}:){3,}[0-9a-f]{2,}" + _NA, ":"),
    ("IP", _NB + r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d+)?" + _NA, "."),
    ("HEX", _NB + r"0x[a-fA-F0-9]+" + _NA, "0x"),
    ("NUM", _NB + r"[\-\+]?\d+(?:\.\d+)?" + _NA, None),
    ("BLK", r"blk_-?\d+", "blk_"),
)


class Masker:
    """Replaces each mask's matches with ``<NAME>``; a drop-in for ``drain3.masking.LogMasker`` (``mask``)."""

    def __init__(self, masks: tuple[tuple[str, str, str | None], ...] = MASKS) -> None:
        self._masks = [(re.compile(p), f"<{name}>", need) for name, p, need in masks]

    def mask(self, content: str) -> str:
        for rx, repl, need in self._masks:
            if need is None or need in content:
                content = rx.sub(repl, content)
        return content
