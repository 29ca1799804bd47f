"""Group lines by template with Drain3, so a model sees one representative per template with its count."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from logreasoner.logs.masking import MASKS, Masker
from logreasoner.logs.reader import LogLine

__all__ = ["TemplateGroup", "TemplateGrouper", "group_by_template", "make_template_miner", "make_adder",
           "single_token_bug", "SEVERITY_RE", "severity"]

# Words that make a line worth an engineer's look, in three tiers (3 worst). SEVERITY_RE is their union.
_TIER_WORDS = (
    (3, r"fatal|panic|crit(ical)?|severe|corrupt|break-in"),
    (2, r"error|err|fail(ed|ure)?|exception|denied|refused|timeout|timed out|unreachable|abort(ed)?|kill(ed)?|"
        r"interrupt|not responding|down|lost|invalid"),
    (1, r"warn(ing)?"),
)
_TIERS = tuple((tier, re.compile(rf"\b({words})\b", re.IGNORECASE)) for tier, words in _TIER_WORDS)
SEVERITY_RE = re.compile(r"\b(" + "|".join(words for _, words in _TIER_WORDS) + r")\b", re.IGNORECASE)


def severity(text: str) -> int:
    """0 (nothing alarming) .. 3 (fatal, panic, critical, corrupt, ...): the worst severity word in ``text``."""
    if not SEVERITY_RE.search(text):
        return 0
    for tier, rx in _TIERS:
        if rx.search(text):
            return tier
    return 0  # pragma: no cover - the union matched, so one tier does


def make_template_miner(sim_th: float = 0.4, depth: int = 4, max_clusters: int | None = None):
    """A Drain3 ``TemplateMiner`` masking ids, IPs, hex, numbers and block ids with :class:`Masker`, in memory."""
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    cfg = TemplateMinerConfig()
    cfg.profiling_enabled = False
    cfg.drain_sim_th = sim_th
    cfg.drain_depth = depth
    cfg.drain_max_clusters = max_clusters
    cfg.masking_instructions = [MaskingInstruction(p, name) for name, p, _ in MASKS]
    cfg.mask_prefix, cfg.mask_suffix = "<", ">"
    cfg.parametrize_numeric_tokens = True
    miner = TemplateMiner(config=cfg)
    miner.masker = Masker()  # the same masks as the config's, skipped on lines that cannot match them
    return miner


# Drain3 (0.9.x) never files a one-token template in its prefix tree: ``Drain.add_seq_to_prefix_tree`` compares
# ``current_depth == token_count`` with ``token_count`` a string, so for a template shorter than the tree depth the
# cluster id is stored nowhere, ``tree_search`` finds no candidate, and every repeated one-token line (HealthApp's
# ``a|b|c`` lines, bare words) opens a new cluster: 7,407 clusters for one HealthApp template on a 1M-line log.
# For one-token lines Drain's answer is simple (similarity 1 for equal tokens, else 0): ``make_adder`` keeps those
# clusters in a dictionary (the same ``LogCluster`` objects and id counter as Drain) and sends every other line to
# Drain unchanged. With the depth of 4 used here, one-token templates are the only ones the bug affects.
def single_token_bug() -> bool:
    """True when this Drain3 opens a new cluster for a repeated one-token line."""
    from drain3.drain import Drain

    d = Drain(depth=4)
    d.add_log_message("probe")
    _, change = d.add_log_message("probe")
    return change == "cluster_created"


def make_adder(drain: Any, fix: bool | None = None) -> Callable[[str], Any]:
    """``add(masked_content) -> LogCluster``: Drain's ``add_log_message``, with one-token lines fixed."""
    add = drain.add_log_message
    if fix is None:
        fix = single_token_bug()
    if not fix:
        return lambda content: add(content)[0]
    from drain3.drain import LogCluster

    singles: dict[str, Any] = {}
    delimiters = list(getattr(drain, "extra_delimiters", None) or [])

    def add_fixed(content: str) -> Any:
        if delimiters:
            for d in delimiters:
                content = content.replace(d, " ")
        parts = content.split(None, 1)
        if len(parts) != 1:
            return add(content)[0]
        token = parts[0]
        c = singles.get(token)
        if c is None:
            drain.clusters_counter += 1
            c = LogCluster([token], drain.clusters_counter)
            drain.id_to_cluster[c.cluster_id] = c
            singles[token] = c
        else:
            c.size += 1
        return c

    return add_fixed


@dataclass
class TemplateGroup:
    """All lines of one template. ``first`` is the line that stands for the rest: the group's first line of its
    highest severity (an ERROR member is shown rather than the INFO line that opened the group)."""

    template_id: int
    template: str
    count: int
    first: LogLine
    line_numbers: list[int] = field(default_factory=list)  # up to `keep_numbers` of them
    sources: set[str] = field(default_factory=set)
    severity: int = 0  # severity() of ``first``


class TemplateGrouper:
    """Feed lines one by one (streaming); read groups at any time. Memory grows with templates, not lines."""

    def __init__(self, keep_numbers: int = 20, sim_th: float = 0.4, depth: int = 4) -> None:
        self.miner = make_template_miner(sim_th=sim_th, depth=depth)
        self._add = make_adder(self.miner.drain)
        self.keep_numbers = keep_numbers
        self.groups: dict[int, TemplateGroup] = {}
        self.lines = 0

    def add(self, line: LogLine) -> TemplateGroup:
        self.lines += 1
        cluster = self._add(self.miner.masker.mask(line.text))
        cid, template = cluster.cluster_id, cluster.get_template()
        g = self.groups.get(cid)
        if g is None:
            g = self.groups[cid] = TemplateGroup(cid, template, 0, line, severity=severity(line.text))
        elif g.severity < 3:
            tier = severity(line.text)
            if tier > g.severity:  # rank and show the group by its most severe member
                g.first, g.severity = line, tier
        g.template = template
        g.count += 1
        g.sources.add(line.source)
        if len(g.line_numbers) < self.keep_numbers:
            g.line_numbers.append(line.number)
        return g

    def result(self) -> list[TemplateGroup]:
        """Groups in log order of the lines that stand for them."""
        return sorted(self.groups.values(), key=lambda g: (g.first.source, g.first.number))


def group_by_template(lines: Iterable[LogLine], **kw) -> list[TemplateGroup]:
    g = TemplateGrouper(**kw)
    for line in lines:
        g.add(line)
    return g.result()
