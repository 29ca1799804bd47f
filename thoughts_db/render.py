"""A flowchart drawn as a text tree (for ``thoughts show`` and as LM input when abstracting a chart).

Depth-first from the entry; edge conditions in brackets; a node already drawn is referenced, not repeated, so
loops and merges stay finite::

    S0 (symptom) Symptom: DataNode reports missing blocks
    └── C1 (check) Check: fsck output
        └── D1 (decision) Are replicas left?
            ├── [yes] K1 (conclusion) Under-replicated: re-replication will fix it
            └── [no] A1 (action) Action: restore from backup
                └── -> C1 (see above)
"""

from __future__ import annotations

from logreasoner.thoughts_db.graph import Flowchart

__all__ = ["render_tree"]


def render_tree(fc: Flowchart, *, ascii_only: bool = False) -> str:
    tee, last, bar, blank = ("|-- ", "`-- ", "|   ", "    ") if ascii_only else ("├── ", "└── ", "│   ", "    ")
    g = fc.graph
    lines: list[str] = []
    seen: set[str] = set()

    def label(n: str) -> str:
        return f"{n} ({fc.kind(n).value}) {fc.text(n)}"

    def walk(n: str, prefix: str) -> None:
        succ = list(g.successors(n))
        for i, v in enumerate(succ):
            is_last = i == len(succ) - 1
            cond = fc.condition(n, v)
            head = prefix + (last if is_last else tee) + (f"[{cond}] " if cond else "")
            if v in seen:
                lines.append(f"{head}-> {v} (see above)")
                continue
            seen.add(v)
            lines.append(head + label(v))
            walk(v, prefix + (blank if is_last else bar))

    roots = [fc.entry] if fc.entry is not None else []
    roots += [n for n in g if g.in_degree(n) == 0 and n not in roots]
    for r in roots:
        if r in seen:
            continue
        seen.add(r)
        lines.append(label(r))
        walk(r, "")
    for n in g:  # nodes only reachable through cycles not entered from a root
        if n not in seen:
            seen.add(n)
            lines.append(label(n) + "  (not reachable from the entry)")
            walk(n, "")
    return "\n".join(lines)
