"""Group lines by template with Drain3, so a model sees one representative per template with its count."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from logreasoner.logs.reader import LogLine

__all__ = ["TemplateGroup", "TemplateGrouper", "group_by_template", "make_template_miner"]

_MASKS = [
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(:\d+)?)((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-fA-F0-9]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+(\.\d+)?)((?=[^A-Za-z0-9])|$)", "NUM"),
    (r"(blk_-?\d+)", "BLK"),
]


def make_template_miner(sim_th: float = 0.4, depth: int = 4, max_clusters: int | None = None):
    """A Drain3 ``TemplateMiner`` with number/IP/hex/block-id masks, in memory, no persistence."""
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    cfg = TemplateMinerConfig()
    cfg.profiling_enabled = False
    cfg.drain_sim_th = sim_th
    cfg.drain_depth = depth
    cfg.drain_max_clusters = max_clusters
    cfg.masking_instructions = [MaskingInstruction(p, name) for p, name in _MASKS]
    cfg.mask_prefix, cfg.mask_suffix = "<", ">"
    cfg.parametrize_numeric_tokens = True
    return TemplateMiner(config=cfg)


@dataclass
class TemplateGroup:
    """All lines of one template: the first line stands for the rest."""

    template_id: int
    template: str
    count: int
    first: LogLine
    line_numbers: list[int] = field(default_factory=list)  # up to `keep_numbers` of them
    sources: set[str] = field(default_factory=set)


class TemplateGrouper:
    """Feed lines one by one (streaming); read groups at any time. Memory grows with templates, not lines."""

    def __init__(self, keep_numbers: int = 20, sim_th: float = 0.4, depth: int = 4) -> None:
        self.miner = make_template_miner(sim_th=sim_th, depth=depth)
        self.keep_numbers = keep_numbers
        self.groups: dict[int, TemplateGroup] = {}
        self.lines = 0

    def add(self, line: LogLine) -> TemplateGroup:
        self.lines += 1
        r = self.miner.add_log_message(line.text)
        cid = r["cluster_id"]
        g = self.groups.get(cid)
        if g is None:
            g = self.groups[cid] = TemplateGroup(cid, r["template_mined"], 0, line)
        g.template = r["template_mined"]
        g.count += 1
        g.sources.add(line.source)
        if len(g.line_numbers) < self.keep_numbers:
            g.line_numbers.append(line.number)
        return g

    def result(self) -> list[TemplateGroup]:
        """Groups in order of first appearance."""
        return sorted(self.groups.values(), key=lambda g: (g.first.source, g.first.number))


def group_by_template(lines: Iterable[LogLine], **kw) -> list[TemplateGroup]:
    g = TemplateGrouper(**kw)
    for line in lines:
        g.add(line)
    return g.result()
