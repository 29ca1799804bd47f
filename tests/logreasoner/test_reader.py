import gzip

import pytest

from logreasoner.errors import InputError
from logreasoner.logs.reader import TRUNCATION_MARKER, ReadStats, expand_sources, iter_lines, read_lines


def test_reads_plain_file_with_numbers(tmp_path):
    p = tmp_path / "a.log"
    p.write_text("first\n\nsecond\nthird\n")
    lines = read_lines(p)
    assert [(ln.number, ln.text) for ln in lines] == [(1, "first"), (3, "second"), (4, "third")]


def test_gzip_is_detected_by_content(tmp_path):
    p = tmp_path / "a.log.gz"
    with gzip.open(p, "wt") as f:
        f.write("alpha\nbeta\n")
    assert [ln.text for ln in read_lines(p)] == ["alpha", "beta"]
    q = tmp_path / "noext"
    q.write_bytes(p.read_bytes())
    assert [ln.text for ln in read_lines(q)] == ["alpha", "beta"]


def test_bad_encoding_is_replaced_and_counted(tmp_path):
    p = tmp_path / "latin.log"
    p.write_bytes("caf\xe9 ok\n".encode("latin-1") + b"\xff\xfe\xfa tail\n")
    stats = ReadStats()
    lines = read_lines(p, stats=stats)
    assert lines[0].text == "caf\ufffd ok"
    assert stats.replaced_bytes == 4
    assert lines[1].text.endswith("tail")


def test_huge_line_truncated_with_marker_and_memory_bounded(tmp_path):
    p = tmp_path / "huge.log"
    p.write_bytes(b"start\n" + b"x" * 5_000_000 + b"\nend\n")
    stats = ReadStats()
    lines = read_lines(p, max_line_chars=100, stats=stats)
    assert [ln.number for ln in lines] == [1, 2, 3]
    assert lines[1].text.startswith("x" * 100)
    assert TRUNCATION_MARKER.split("{")[0] in lines[1].text
    assert str(5_000_000 - 100) in lines[1].text
    assert lines[2].text == "end"
    assert stats.truncated_lines == 1


def test_binary_file_is_refused_with_hint(tmp_path):
    p = tmp_path / "blob.bin"
    p.write_bytes(bytes(range(256)) * 50)
    with pytest.raises(InputError) as e:
        read_lines(p)
    assert "binary" in e.value.message and e.value.hint


def test_empty_file_is_refused(tmp_path):
    p = tmp_path / "empty.log"
    p.write_text("\n \n")
    with pytest.raises(InputError, match="no log lines"):
        read_lines(p)


def test_missing_file_and_glob(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_lines(tmp_path / "nope.log")
    with pytest.raises(InputError, match="no file matches"):
        read_lines(str(tmp_path / "*.nothing"))
    (tmp_path / "a.log").write_text("a\n")
    (tmp_path / "b.log").write_text("b\n")
    assert [ln.text for ln in read_lines(str(tmp_path / "*.log"))] == ["a", "b"]
    assert expand_sources(tmp_path) == [str(tmp_path / "a.log"), str(tmp_path / "b.log")]


def test_utf16_with_bom(tmp_path):
    p = tmp_path / "win.log"
    p.write_bytes("one\r\ntwo\r\n".encode("utf-16"))
    assert [ln.text for ln in read_lines(p)] == ["one", "two"]


def test_streaming_does_not_load_everything(tmp_path):
    p = tmp_path / "big.log"
    with open(p, "w") as f:
        for i in range(50_000):
            f.write(f"line {i}\n")
    it = iter_lines(p)
    first = next(it)
    assert first.text == "line 0"
    assert sum(1 for _ in it) == 49_999


def test_text_input():
    lines = read_lines(text="a\nb\n")
    assert [ln.source for ln in lines] == ["<text>", "<text>"]


def _read_all(path, **kw):
    stats = ReadStats()
    lines = [(ln.number, ln.text) for ln in iter_lines(str(path), stats=stats, **kw)]
    return lines, {k: v for k, v in vars(stats).items() if k not in ("sources", "skipped_sources")}


def test_tricky_bytes_lines_and_stats(tmp_path):
    """BOM, CRLF, bad bytes, an encoded surrogate, blank lines, a long line and no final newline, at once."""
    p = tmp_path / "tricky.log"
    p.write_bytes(
        b"\xef\xbb\xbffirst line after a BOM\r\n"
        b"bad bytes \xff\xfe here and \xed\xa0\x80 a surrogate\n"
        b"\n   \n"
        b"caf\xc3\xa9 ok\n"
        + b"x" * 5000 + b"\n"
        + b"no newline at the end"
    )
    lines, stats = _read_all(p, max_line_chars=100)
    assert lines == [(1, "first line after a BOM"),
                     (2, "bad bytes \ufffd\ufffd here and \ufffd\ufffd\ufffd a surrogate"), (5, "caf\u00e9 ok"),
                     (6, "x" * 100 + TRUNCATION_MARKER.format(n=4900)), (7, "no newline at the end")]
    assert stats == {"lines": 7, "bytes_read": 5098, "replaced_bytes": 5, "truncated_lines": 1, "skipped_lines": 2}


def test_gzip_with_bad_bytes_and_gzip_inside_gzip(tmp_path):
    g = tmp_path / "a.log.gz"
    g.write_bytes(gzip.compress(b"one\ntwo \xff\nthree\n"))
    assert _read_all(g) == ([(1, "one"), (2, "two \ufffd"), (3, "three")],
                            {"lines": 3, "bytes_read": 16, "replaced_bytes": 1, "truncated_lines": 0,
                             "skipped_lines": 0})
    gg = tmp_path / "twice.gz"
    gg.write_bytes(gzip.compress(gzip.compress(b"one\ntwo\n")))
    assert _read_all(gg)[0] == [(1, "one"), (2, "two")]
