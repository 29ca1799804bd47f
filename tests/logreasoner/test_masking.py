"""The masker gives exactly what Drain3's own masker gives over the usual Drain3 mask patterns, line for line."""

from __future__ import annotations

import os
from pathlib import Path

from logreasoner.logs.masking import Masker
from logreasoner.logs.reader import iter_lines
from logreasoner.logs.templates import make_template_miner

SAMPLES = Path(__file__).resolve().parents[2] / "logreasoner" / "data" / "samples"
SHARED = Path(os.environ.get("LOGREASONER_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
LOGHUB = SHARED / "loghub-2k"

# The reference: Drain3's usual masks, as the toolkit configured Drain3 before it had its own masker
DRAIN3_MASKS = [
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(:\d+)?)((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-fA-F0-9]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+(\.\d+)?)((?=[^A-Za-z0-9])|$)", "NUM"),
    (r"(blk_-?\d+)", "BLK"),
]


def _drain3_miner():
    """A Drain3 miner with the reference masks and Drain3's own masker (the toolkit's parameters otherwise)."""
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    cfg = TemplateMinerConfig()
    cfg.profiling_enabled = False
    cfg.drain_sim_th, cfg.drain_depth, cfg.drain_max_clusters = 0.4, 4, None
    cfg.masking_instructions = [MaskingInstruction(p, name) for p, name in DRAIN3_MASKS]
    cfg.mask_prefix, cfg.mask_suffix = "<", ">"
    cfg.parametrize_numeric_tokens = True
    return TemplateMiner(config=cfg)


def _corpus() -> list[str]:
    lines: list[str] = []
    for f in sorted(SAMPLES.glob("*.log")) + sorted(LOGHUB.glob("*/*_2k.log")):
        lines += [x.text for x in iter_lines(str(f))]
    lines += ["0x1F at 10.0.0.1:80 and aa:bb:cc:dd:ee:ff", "+12.5 -3 x1 1x 0xZZ", "blk_-42 blk_7", "", ":::"]
    return lines


def test_masks_each_kind_in_order():
    assert Masker().mask("0x1F at 10.0.0.1:80 id aa:bb:cc:dd:ee:ff took +12.5 ms x1") == \
        "<HEX> at <IP> id <ID> took <NUM> ms x1"
    # NUM runs before BLK, so a block id's digits are usually a number already; BLK takes what NUM leaves
    assert Masker().mask("blk_-42 blk_7x") == "blk_<NUM> <BLK>x"


def test_masker_matches_drain3_masker_line_for_line():
    stock, ours = _drain3_miner().masker, Masker()
    corpus = _corpus()
    assert len(corpus) >= 4000
    assert [x for x in corpus if ours.mask(x) != stock.mask(x)] == []


def test_template_miner_groups_like_drain3_with_its_own_masker():
    stock, ours = _drain3_miner(), make_template_miner()
    assert isinstance(ours.masker, Masker)
    for text in _corpus():
        ra, rb = stock.add_log_message(text), ours.add_log_message(text)
        assert (ra["cluster_id"], ra["template_mined"]) == (rb["cluster_id"], rb["template_mined"])
