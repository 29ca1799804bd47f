"""Drain3 as the scale layer drives it: the fast masker, and a fix for lines of a single token.

Drain3 (0.9.11, the version installed) never files a one-token template in its prefix tree:
``Drain.add_seq_to_prefix_tree`` compares ``current_depth == token_count`` with ``token_count`` a string, so the
"last token" test is never true and, for a template shorter than the tree depth, the cluster id is stored
nowhere. ``tree_search`` then finds no candidate and every one-token line (HealthApp's ``a|b|c`` lines, bare
words) opens a new cluster: 7,407 clusters for one HealthApp template on the 1M-line benchmark log.

For one-token lines the correct Drain result is simple: the similarity of two one-token sequences is 1 when the
tokens are equal and 0 otherwise, so a line joins the cluster with exactly its masked token. This module keeps
those clusters in a dictionary (same ``LogCluster`` objects and id counter as Drain), and sends every other
line to Drain unchanged. The fix applies only when a probe shows the bug; with the depth of 4 the toolkit uses,
one-token templates are the only ones it affects.
"""

from __future__ import annotations

from typing import Any, Callable

from logreasoner.logs.templates import make_adder, single_token_bug
from logreasoner.scale.masking import make_fast_miner

__all__ = ["single_token_bug", "make_adder", "make_miner"]


def make_miner(sim_th: float = 0.4, depth: int = 4) -> tuple[Any, Callable[[str], Any]]:
    """The toolkit's Drain3 miner with the fast masker, and its fixed ``add``."""
    miner = make_fast_miner(sim_th=sim_th, depth=depth)
    return miner, make_adder(miner.drain)
