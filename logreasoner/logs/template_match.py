"""Templates as patterns: does a log line fit ``Receiving block <*> src: <*>``, and which known template fits it.

A template's ``<*>`` stands for a variable part. :func:`matches` tries the *strict* pattern first (tokens aligned
with the line's: a whole-token ``<*>`` is one token, an in-token ``<*>`` stays inside its token; linear time)
and, only when the line has more tokens than the template, the *loose* pattern (every ``<*>`` is ``.*?``, so a
variable may span several tokens), whose backtracking is bounded by a timeout.

:class:`TemplateIndex` answers "which known template fits this line" fast enough for a warm template cache
(tens of thousands of lines per second on one core): templates are bucketed by their first token (a literal
first token must equal the line's), each bucket is ordered by specificity (most constant characters first, so
``Connection closed by <*>`` wins over ``Connection <*>``), and exact lines seen before are memoised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

import regex

__all__ = ["WILDCARD", "CompiledTemplate", "compile_template", "matches", "literal_chars", "TemplateIndex"]

WILDCARD = "<*>"
_WS = re.compile(r"\s+")
_LOOSE_TIMEOUT_S = 0.05  # a pathological loose match counts as "no match" rather than hanging the run
# adjacent wildcards mean what one means; as patterns (\S*?\S*?...) they backtrack exponentially (a small model's
# answer `dbcr0=<*><*><*>...` stalled a parse for minutes on one 16-character token)
_RUN = re.compile(r"(?:" + re.escape("<*>") + r"){2,}")


def literal_chars(template: str) -> int:
    """Constant (non-wildcard, non-space) characters of a template: how specific it is."""
    return len(_WS.sub("", template.replace(WILDCARD, "")))


def _token_pattern(token: str) -> str:
    if token == WILDCARD:
        return r"\S+"
    return r"\S*?".join(re.escape(p) for p in token.split(WILDCARD))


@dataclass(frozen=True)
class CompiledTemplate:
    """A template with its strict and loose patterns (see the module docstring)."""

    template: str
    tokens: int
    first: str | None  # the first token when it is literal, else None (a wildcard bucket)
    specificity: int
    strict: re.Pattern = field(repr=False)
    loose: regex.Pattern | None = field(repr=False)  # None when no variable can span tokens

    def match(self, line: str, n_tokens: int | None = None) -> bool:
        n = len(line.split()) if n_tokens is None else n_tokens
        if n == self.tokens and self.strict.fullmatch(line.strip()):
            return True
        if self.loose is None or n == self.tokens:  # aligned tokens: the strict pattern has answered
            return False
        try:
            return self.loose.fullmatch(line.strip(), timeout=_LOOSE_TIMEOUT_S) is not None
        except TimeoutError:
            return False


def compile_template(template: str) -> CompiledTemplate:
    """Compile a template (whitespace runs in it match any whitespace run; adjacent ``<*>`` count as one)."""
    original, template = template, _RUN.sub(WILDCARD, template)
    toks = template.split()
    strict = re.compile(r"\s+".join(_token_pattern(t) for t in toks), re.DOTALL)
    loose = None
    if WILDCARD in template:
        parts = template.strip().split(WILDCARD)
        body = "(.*?)".join(r"\s+".join(re.escape(w) for w in _WS.split(p)) if p.strip() else
                            (r"\s*" if p else "") for p in parts)
        loose = regex.compile(body, regex.DOTALL)
    first = toks[0] if toks and WILDCARD not in toks[0] else None
    return CompiledTemplate(template=original, tokens=len(toks), first=first, specificity=literal_chars(template),
                            strict=strict, loose=loose)


def matches(template: str | CompiledTemplate, line: str) -> bool:
    """True when ``line`` is an instance of ``template`` (``<*>`` = any variable text)."""
    t = template if isinstance(template, CompiledTemplate) else compile_template(template)
    return t.match(line)


class TemplateIndex:
    """Known templates, looked up by line: ``find(line) -> template | None``.

    A token-aligned (strict) fit always wins over a fit where a wildcard spans several tokens (loose); among
    fits of one kind the most specific template wins (ties: the smaller string).
    """

    def __init__(self, templates: Iterable[str] = (), memo_size: int = 200_000) -> None:
        self._strict: dict[tuple[str | None, int], list[CompiledTemplate]] = {}
        self._loose: dict[str | None, list[CompiledTemplate]] = {}
        self._known: set[str] = set()
        self._memo: dict[str, str] = {}
        self.memo_size = memo_size
        for t in templates:
            self.add(t)

    def __len__(self) -> int:
        return len(self._known)

    def __contains__(self, template: object) -> bool:
        return template in self._known

    def templates(self) -> list[str]:
        return sorted(self._known)

    @staticmethod
    def _insert(bucket: list[CompiledTemplate], c: CompiledTemplate) -> None:
        bucket.append(c)
        bucket.sort(key=lambda x: (-x.specificity, x.template))

    def add(self, template: str) -> bool:
        """Add a template; False when it was already known (or blank)."""
        if not template.strip() or template in self._known:
            return False
        c = compile_template(template)
        self._insert(self._strict.setdefault((c.first, c.tokens), []), c)
        if c.loose is not None:
            self._insert(self._loose.setdefault(c.first, []), c)
        self._known.add(template)
        self._memo.clear()  # a new, more specific template may now fit lines answered before
        return True

    @staticmethod
    def _best(buckets: tuple[list[CompiledTemplate] | None, ...], fits: Any) -> CompiledTemplate | None:
        best: CompiledTemplate | None = None
        for bucket in buckets:
            for c in bucket or ():  # ordered by specificity: the first fit is the bucket's best
                if best is not None and c.specificity <= best.specificity:
                    break
                if fits(c):
                    best = c
                    break
        return best

    def find(self, line: str, loose: bool = True) -> str | None:
        """The known template that ``line`` fits best, or None (``loose=False``: token-aligned fits only)."""
        hit = self._memo.get(line) if loose else None
        if hit is not None:
            return hit
        toks = line.split()
        n = len(toks)
        first = toks[0] if toks else None
        body = line.strip()
        best = self._best((self._strict.get((first, n)), self._strict.get((None, n))),
                          lambda c: c.strict.fullmatch(body) is not None)
        if best is None and loose and self._loose:
            best = self._best((self._loose.get(first), self._loose.get(None)),
                              lambda c: c.tokens != n and c.match(line, n))
        if best is None:
            return None
        if loose and len(self._memo) < self.memo_size:
            self._memo[line] = best.template
        return best.template
