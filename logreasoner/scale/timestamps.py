"""Timestamps from log lines: the common formats built in, or your own regex; seconds since the epoch (UTC).

Formats found in the Loghub systems and in syslog-style logs are tried in turn; the one that matched last is
tried first on the next line (a log keeps one format), so the cost is one regex search per line. Formats
without a year (syslog ``Dec 10 06:55:46``, Android ``03-17 16:13:38.811``) are placed in the year 2000; only
differences between timestamps matter for time windows.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from logreasoner.errors import ConfigError

__all__ = ["TimestampParser", "BUILTIN_FORMATS"]

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), 1)}
_DEFAULT_YEAR = 2000


def _frac(s: str | None) -> float:
    return float("0." + s) if s else 0.0


def _epoch(y: int, mo: int, d: int, h: int, mi: int, s: int, frac: float = 0.0) -> float | None:
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 62):
        return None
    return calendar.timegm((y, mo, d, h, mi, min(s, 59), 0, 0, 0)) + frac


def _iso(m: re.Match) -> float | None:
    g = m.groupdict()
    return _epoch(int(g["Y"]), int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]), int(g["S"]), _frac(g.get("f")))


def _yy(m: re.Match) -> float | None:
    g = m.groupdict()
    return _epoch(2000 + int(g["y"]), int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]), int(g["S"]), _frac(g.get("f")))


def _mon(m: re.Match) -> float | None:
    g = m.groupdict()
    mo = _MONTHS.get(g["b"].lower())
    if mo is None:
        return None
    year = int(g["Y"]) if g.get("Y") else _DEFAULT_YEAR
    return _epoch(year, mo, int(g["d"]), int(g["H"]), int(g["M"]), int(g["S"]), _frac(g.get("f")))


def _noyear(m: re.Match) -> float | None:
    g = m.groupdict()
    return _epoch(_DEFAULT_YEAR, int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]), int(g["S"]), _frac(g.get("f")))


def _unix(m: re.Match) -> float | None:
    return float(m.group("e"))


_T = r"(?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})"
# (name, pattern, converter); order matters: specific before general.
BUILTIN_FORMATS: list[tuple[str, str, Callable[[re.Match], float | None]]] = [
    # 2015-07-29 17:41:44,747 | 2015-07-29T17:41:44.747Z | 2016-09-28 04:30:30 (Zookeeper, Hadoop, Windows, ISO 8601)
    ("iso", r"(?<!\d)(?P<Y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})[ T]" + _T + r"(?:[.,](?P<f>\d{1,9}))?", _iso),
    # 2005-06-03-15.42.50.675872 (BGL)
    ("bgl", r"(?<!\d)(?P<Y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})-(?P<H>\d{2})\.(?P<M>\d{2})\.(?P<S>\d{2})"
            r"(?:\.(?P<f>\d{1,9}))?", _iso),
    # 20171223-22:15:29:606 | 20171223-22:16:0:119 (HealthApp: unpadded fields)
    ("compact", r"(?<!\d)(?P<Y>\d{4})(?P<m>\d{2})(?P<d>\d{2})-(?P<H>\d{1,2}):(?P<M>\d{1,2}):(?P<S>\d{1,2})"
                r"(?::(?P<f>\d{1,6}))?", _iso),
    # 081109 203615 (HDFS: yymmdd HHMMSS)
    ("hdfs", r"^(?P<y>\d{2})(?P<m>\d{2})(?P<d>\d{2}) (?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})(?!\d)", _yy),
    # 17/06/09 20:10:40 (Spark: yy/mm/dd)
    ("slash", r"(?<!\d)(?P<y>\d{2})/(?P<m>\d{2})/(?P<d>\d{2}) " + _T, _yy),
    # [Sun Dec 04 04:47:44 2005] (Apache) | Dec 04 04:47:44 2005
    ("ctime", r"(?:[A-Z][a-z]{2} )?(?P<b>[A-Z][a-z]{2}) +(?P<d>\d{1,2}) " + _T + r"(?:\.(?P<f>\d+))? (?P<Y>\d{4})", _mon),
    # Dec 10 06:55:46 (syslog: OpenSSH, Linux, Thunderbird)
    ("syslog", r"(?<![A-Za-z])(?P<b>[A-Z][a-z]{2}) +(?P<d>\d{1,2}) " + _T, _mon),
    # 03-17 16:13:38.811 (Android logcat)
    ("logcat", r"^(?P<m>\d{2})-(?P<d>\d{2}) " + _T + r"(?:\.(?P<f>\d{1,6}))?", _noyear),
    # 1117838570 (a 10-digit Unix time as a field: BGL, HPC, Thunderbird)
    ("unix", r"(?<![\d.])(?P<e>1\d{9})(?![\d.])", _unix),
]


@dataclass
class _Format:
    name: str
    regex: re.Pattern
    convert: Callable[[re.Match], float | None]


class TimestampParser:
    """``parse(line) -> float | None``: seconds since the epoch of the first timestamp found in the line.

    Args:
        regex: your own pattern instead of the built-in formats. Either with named groups ``Y`` (or ``y``, two
            digits), ``m`` (or ``b``, a month name), ``d``, ``H``, ``M``, ``S`` and optionally ``f`` (fraction),
            or a group ``e`` (Unix seconds), or any single match read with ``fmt``.
        fmt: a ``datetime.strptime`` format for what ``regex`` matched (its first group, else the whole match).
        search_chars: only the first N characters of a line are searched (timestamps lead).
    """

    def __init__(self, regex: str | None = None, fmt: str | None = None, *, search_chars: int = 120) -> None:
        self.search_chars = search_chars
        if regex is None and fmt is not None:
            raise ConfigError("a timestamp format needs a regex", "pass --ts-regex with --ts-format")
        if regex is not None:
            try:
                rx = re.compile(regex)
            except re.error as e:
                raise ConfigError(f"bad timestamp regex {regex!r}: {e}", "fix the pattern (Python re syntax)") from None
            names = set(rx.groupindex)
            if fmt is not None:
                conv = self._strptime(fmt)
            elif "e" in names:
                conv = _unix
            elif {"d", "H", "M", "S"} <= names and ("m" in names or "b" in names) and (
                    "Y" in names or "y" in names or "b" in names or "m" in names):
                conv = self._named
            else:
                raise ConfigError(
                    f"timestamp regex {regex!r} has neither named date groups nor a format",
                    "name the groups (?P<Y>..)(?P<m>..)(?P<d>..)(?P<H>..)(?P<M>..)(?P<S>..), use (?P<e>..) for Unix "
                    "seconds, or pass --ts-format with a strptime format",
                )
            self.formats = [_Format("custom", rx, conv)]
        else:
            self.formats = [_Format(n, re.compile(p), c) for n, p, c in BUILTIN_FORMATS]
        self.last: _Format | None = None

    @staticmethod
    def _strptime(fmt: str) -> Callable[[re.Match], float | None]:
        def conv(m: re.Match) -> float | None:
            s = m.group(1) if m.re.groups else m.group(0)
            try:
                dt = datetime.strptime(s, fmt)
            except ValueError:
                return None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            return dt.timestamp()
        return conv

    @staticmethod
    def _named(m: re.Match) -> float | None:
        g = m.groupdict()
        if g.get("b"):
            return _mon(m)
        if g.get("Y"):
            return _iso(m)
        if g.get("y"):
            return _yy(m)
        return _noyear(m)

    def parse(self, line: str) -> float | None:
        head = line[: self.search_chars]
        if self.last is not None:
            m = self.last.regex.search(head)
            if m is not None:
                ts = self.last.convert(m)
                if ts is not None:
                    return ts
        for f in self.formats:
            if f is self.last:
                continue
            m = f.regex.search(head)
            if m is not None:
                ts = f.convert(m)
                if ts is not None:
                    self.last = f
                    return ts
        return None
