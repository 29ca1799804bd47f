"""The fast reader gives exactly what logreasoner.logs.reader gives; the fast masker exactly what Drain3's does."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from logreasoner.logs.reader import ReadStats, iter_lines
from logreasoner.scale.masking import FastMasker, make_fast_miner
from logreasoner.scale.reading import iter_lines_fast

SAMPLES = Path(__file__).resolve().parents[2] / "logreasoner" / "data" / "samples"
LOGHUB = Path(os.environ.get("LOGREASONER_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")) / "loghub-2k"


def _same(path, **kw):
    s1, s2 = ReadStats(), ReadStats()
    a = list(iter_lines(str(path), stats=s1, **kw))
    b = list(iter_lines_fast(str(path), stats=s2, **kw))
    assert a == b
    assert vars(s1) == vars(s2)
    return b


def test_tricky_bytes_read_the_same(tmp_path):
    p = tmp_path / "tricky.log"
    p.write_bytes(
        b"\xef\xbb\xbffirst line after a BOM\r\n"
        b"bad bytes \xff\xfe here and \xed\xa0\x80 a surrogate\n"
        b"\n   \n"
        b"caf\xc3\xa9 ok\n"
        + b"x" * 5000 + b"\n"
        + b"no newline at the end"
    )
    lines = _same(p, max_line_chars=100)
    assert lines[0].text == "first line after a BOM"
    assert "\ufffd" in lines[1].text
    assert lines[-1].number == 7 and "truncated" in lines[-2].text


def test_gzip_utf16_and_binary_behave_the_same(tmp_path):
    g = tmp_path / "a.log.gz"
    with gzip.open(g, "wb") as f:
        f.write(b"one\ntwo \xff\nthree\n")
    assert [x.text for x in _same(g)] == ["one", "two \ufffd", "three"]
    u = tmp_path / "u.log"
    u.write_bytes("alpha\nbeta\n".encode("utf-16"))
    assert [x.text for x in _same(u)] == ["alpha", "beta"]
    b = tmp_path / "b.bin"
    b.write_bytes(bytes(range(256)) * 4)
    from logreasoner.errors import InputError

    with pytest.raises(InputError):
        list(iter_lines_fast(str(b)))


def _corpus() -> list[str]:
    lines: list[str] = []
    for f in sorted(SAMPLES.glob("*.log")) + sorted(LOGHUB.glob("*/*_2k.log")):
        lines += [x.text for x in iter_lines(str(f))]
    lines += ["0x1F at 10.0.0.1:80 and aa:bb:cc:dd:ee:ff", "+12.5 -3 x1 1x 0xZZ", "blk_-42 blk_7", "", ":::"]
    return lines


def test_fast_masker_matches_drain3_masker_line_for_line():
    from logreasoner.logs.templates import make_template_miner

    stock = make_template_miner().masker
    fast = FastMasker()
    corpus = _corpus()
    assert len(corpus) >= 4000
    diff = [x for x in corpus if fast.mask(x) != stock.mask(x)]
    assert diff == []


def test_fast_miner_groups_like_the_stock_miner():
    from logreasoner.logs.templates import make_template_miner

    a, b = make_template_miner(), make_fast_miner()
    for text in _corpus():
        ra, rb = a.add_log_message(text), b.add_log_message(text)
        assert (ra["cluster_id"], ra["template_mined"]) == (rb["cluster_id"], rb["template_mined"])


def test_fast_masking_falls_back_when_the_masks_change(monkeypatch):
    from logreasoner.logs import templates
    from logreasoner.scale.masking import fast_masking_active

    assert fast_masking_active(make_fast_miner())
    monkeypatch.setattr(templates, "_MASKS", templates._MASKS + [(r"(uid=\d+)", "UID")])
    assert not fast_masking_active(make_fast_miner())
