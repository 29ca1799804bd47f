"""Lexical retrieval: SQLite FTS5 ranks with ``bm25()``, filters by task and cuts at ``LIMIT``, all in one statement.

The query's distinctive words (no stop words, no hex or numbers) are OR-ed into an FTS5 expression. SQLite
scores the matches with BM25 (column weights :data:`BM25_WEIGHTS`: title and tags count more), keeps the
templates of the asked task (``template_tasks``, kept by triggers: a template without a task tag serves every
task), sorts and returns the best ``limit``; only those rows reach Python.

Cost: FTS5 walks the doclist of every query word and scores every matching row, so a query whose words occur
in most templates costs time in proportion to the store (see benchmarks/RETRIEVAL.md).
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter

__all__ = ["BM25_WEIGHTS", "MAX_QUERY_CHARS", "MAX_QUERY_TERMS", "SQL_ANY_TASK", "SQL_ONE_TASK", "query_terms",
           "fts_query", "match_expression", "lexical_search"]

# column weights for bm25(): title, problem_overview, key_challenges, reasoning_steps, search_text (tags)
BM25_WEIGHTS = (3.0, 1.0, 1.0, 1.0, 3.0)
MAX_QUERY_TERMS = 48
MAX_QUERY_CHARS = 4000

_STOP = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how if in into is it its
    may no not of on or our should so such than that the their then there these this those to was were what
    when where which while who why will with would you your log logs line lines entry entries given following
    please based above below""".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")

_WEIGHTS_SQL = ", ".join(str(w) for w in BM25_WEIGHTS)
_TASK_FILTER = ("AND EXISTS (SELECT 1 FROM template_tasks x WHERE x.tpl = templates_fts.rowid "
                "AND x.task IN (:task, ''))")
_SQL = """
SELECT t.id, m.s FROM (
    SELECT rowid AS r, -bm25(templates_fts, {weights}) AS s FROM templates_fts
    WHERE templates_fts MATCH :match {task_filter}
    ORDER BY s DESC LIMIT :limit
) m JOIN templates t ON t.rowid = m.r
ORDER BY m.s DESC, t.id
"""
SQL_ANY_TASK = _SQL.format(weights=_WEIGHTS_SQL, task_filter="")
SQL_ONE_TASK = _SQL.format(weights=_WEIGHTS_SQL, task_filter=_TASK_FILTER)


def query_terms(text: str, *, limit: int = MAX_QUERY_TERMS) -> list[str]:
    """Distinctive words of a query, most frequent first: letters lead, letters outnumber digits."""
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for i, m in enumerate(_WORD.finditer(text[: MAX_QUERY_CHARS * 4])):
        w = m.group(0).lower()
        digits = sum(map(str.isdigit, w))
        if w in _STOP or digits * 2 > len(w) or len(w) > 40:
            continue
        counts[w] += 1
        first.setdefault(w, i)
    return sorted(counts, key=lambda w: (-counts[w], first[w]))[:limit]


def match_expression(terms: list[str]) -> str:
    """The FTS5 MATCH expression of query terms: each quoted, OR-ed."""
    return " OR ".join(f'"{t}"' for t in terms)


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression (terms OR-ed, each quoted) or None when the text has no usable word."""
    terms = query_terms(text)
    return match_expression(terms) if terms else None


def lexical_search(conn: sqlite3.Connection, match: str, *, task: str | None, limit: int) -> dict[str, float]:
    """The ``limit`` best BM25 matches of ``match`` (of ``task`` and untagged templates, when given), best
    first, as {template id: score > 0}."""
    if limit <= 0:
        return {}
    sql = SQL_ANY_TASK if task is None else SQL_ONE_TASK
    rows = conn.execute(sql, {"match": match, "task": task, "limit": int(limit)}).fetchall()
    return {tid: float(s) for tid, s in rows}
