"""Issue 14, items 4 and 5, and fuzzing: the reader never crashes, never seeks, and names a broken file.

- 4: a corrupt or truncated ``.gz`` is an ``InputError`` naming the file (was ``zlib.error`` -> exit 1).
- 5: FIFOs, pipes and process substitution are read (was ``not seekable`` -> exit 1).
- Property-based: random bytes, encodings, gzip, line lengths -> lines or an ``InputError``, nothing else.
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logreasoner.errors import InputError
from logreasoner.logs.reader import TRUNCATION_MARKER, ReadStats, iter_lines, read_lines

LINES = [f"2024-05-01 10:00:{i:02d} INFO worker {i} done" for i in range(40)] + ["ERROR disk sda failed"]


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode())


def _corrupt_gz() -> bytes:
    """A .gz whose deflate stream is damaged in the middle (zlib raises ``zlib.error``)."""
    data = bytearray(_gz("\n".join(LINES * 50) + "\n"))
    for i in range(40, 60):
        data[i] ^= 0xFF
    return bytes(data)


# -- item 4: corrupt and truncated gzip -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["corrupt", "truncated", "header-only"])
def test_a_broken_gz_is_an_input_error_naming_the_file(tmp_path: Path, kind: str) -> None:
    whole = _gz("\n".join(LINES * 50) + "\n")
    data = {"corrupt": _corrupt_gz(), "truncated": whole[: len(whole) // 2], "header-only": whole[:10]}[kind]
    p = tmp_path / f"{kind}.log.gz"
    p.write_bytes(data)
    with pytest.raises(InputError) as e:
        read_lines(p)
    assert str(p) in e.value.message and e.value.hint
    assert e.value.exit_code == 2


def test_the_cli_exits_2_on_a_corrupt_gz(tmp_path: Path) -> None:
    p = tmp_path / "app.log.gz"
    p.write_bytes(_corrupt_gz())
    proc = subprocess.run([sys.executable, "-m", "logreasoner.cli.main", "analyze", str(p), "--model", "openai/x",
                           "--api-base", "http://127.0.0.1:9/v1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "app.log.gz" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# -- item 5: streams that cannot seek ---------------------------------------------------------------------------------
class _NoSeek(io.RawIOBase):
    """A byte stream that refuses to seek or tell, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b) -> int:  # noqa: ANN001
        chunk = self._data.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("gz", [False, True])
def test_a_fifo_is_read_like_a_file(tmp_path: Path, gz: bool) -> None:
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    payload = _gz("\n".join(LINES) + "\n") if gz else ("\n".join(LINES) + "\n").encode()

    def writer() -> None:
        with open(fifo, "wb") as f:
            f.write(payload)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    lines = read_lines(fifo)
    t.join(5)
    assert [ln.text for ln in lines] == LINES


@pytest.mark.skipif(sys.platform == "win32" or not Path("/bin/bash").exists(), reason="needs bash")
def test_process_substitution_works_from_the_cli(tmp_path: Path) -> None:
    """``logreasoner analyze <(cat f)``: the path is /dev/fd/N, a pipe."""
    log = tmp_path / "app.log"
    log.write_text("\n".join(LINES) + "\n")
    code = ("import sys; from logreasoner.logs.reader import read_lines; "
            "print(len(read_lines(sys.argv[1])))")
    proc = subprocess.run(["/bin/bash", "-c", f'"{sys.executable}" -c "{code}" <(cat "{log}")'],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(len(LINES))


def test_stdin_that_cannot_seek_or_peek(monkeypatch: pytest.MonkeyPatch) -> None:
    for payload in (("\n".join(LINES) + "\n").encode(), _gz("\n".join(LINES) + "\n")):
        fake = type("S", (), {"buffer": _NoSeek(payload)})()
        monkeypatch.setattr(sys, "stdin", fake)
        assert [ln.text for ln in read_lines("-")] == LINES


def test_utf16_is_streamed_with_line_numbers(tmp_path: Path) -> None:
    p = tmp_path / "win.log"
    p.write_bytes("first\r\nsecond\r\n\r\nfourth ü\r\n".encode("utf-16"))
    assert [(ln.number, ln.text) for ln in read_lines(p)] == [(1, "first"), (2, "second"), (4, "fourth ü")]


# -- fuzzing ----------------------------------------------------------------------------------------------------------
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check(lines: list, stats: ReadStats, max_line_chars: int) -> None:
    marker = TRUNCATION_MARKER.split("{")[0]
    numbers = [ln.number for ln in lines]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    for ln in lines:
        assert "\n" not in ln.text and ln.text.strip()
        assert len(ln.text) <= max_line_chars or marker in ln.text
    assert stats.lines >= len(lines)


def _read(path: Path, max_line_chars: int) -> None:
    stats = ReadStats()
    try:
        lines = read_lines(path, max_line_chars=max_line_chars, stats=stats)
    except InputError as e:  # refused: binary, empty, corrupt gzip — always with a message and a hint
        assert e.message and e.hint
        return
    _check(lines, stats, max_line_chars)


@FUZZ
@given(data=st.binary(max_size=3000), max_line_chars=st.integers(80, 300))
def test_random_bytes_give_lines_or_an_input_error(tmp_path: Path, data: bytes, max_line_chars: int) -> None:
    p = tmp_path / "fuzz.bin"
    p.write_bytes(data)
    _read(p, max_line_chars)
    p.write_bytes(b"\x1f\x8b" + data)  # a gzip header followed by anything
    _read(p, max_line_chars)


@FUZZ
@given(text=st.text(max_size=400), encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]),
       compress=st.booleans(), cut=st.integers(0, 100), max_line_chars=st.integers(80, 200))
def test_encoded_and_compressed_text(tmp_path: Path, text: str, encoding: str, compress: bool, cut: int,
                                     max_line_chars: int) -> None:
    raw = text.encode(encoding, errors="replace")
    if compress:
        raw = gzip.compress(raw)
        raw = raw[: max(2, len(raw) * cut // 100)] if cut < 100 else raw  # sometimes truncated
    p = tmp_path / "fuzz.log"
    p.write_bytes(raw)
    _read(p, max_line_chars)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lengths=st.lists(st.integers(0, 40_000), min_size=1, max_size=6), max_line_chars=st.integers(80, 2000))
def test_line_lengths_are_bounded(tmp_path: Path, lengths: list[int], max_line_chars: int) -> None:
    p = tmp_path / "long.log"
    p.write_bytes(b"".join(b"y" * n + b"\n" for n in lengths))
    stats = ReadStats()
    lines = list(iter_lines(p, max_line_chars=max_line_chars, stats=stats))
    assert [ln.number for ln in lines] == [i + 1 for i, n in enumerate(lengths) if n]
    for ln, n in zip(lines, [n for n in lengths if n]):
        assert ln.text.startswith("y" * min(n, max_line_chars))
        assert (n > max_line_chars) == (TRUNCATION_MARKER.split("{")[0] in ln.text)


def test_zlib_error_is_what_a_corrupt_stream_raises() -> None:
    """Guard for the corrupt fixture above: it really exercises the zlib.error path."""
    with pytest.raises(zlib.error):
        gzip.decompress(_corrupt_gz())


# -- item 4 for folders: one unreadable file does not sink the others ---------------------------------------------------
def test_a_folder_skips_unreadable_files_and_says_which(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("\n".join(LINES) + "\n")
    (tmp_path / "b.log.gz").write_bytes(_corrupt_gz())
    (tmp_path / "c.bin").write_bytes(bytes(range(256)) * 40)
    stats = ReadStats()
    lines = read_lines(tmp_path, stats=stats)
    assert [ln.text for ln in lines if ln.source.endswith("a.log")] == LINES
    assert len(stats.skipped_sources) == 2
    assert any("b.log.gz" in s for s in stats.skipped_sources) and any("c.bin" in s for s in stats.skipped_sources)
    with pytest.raises(InputError, match="b.log.gz"):  # named directly, it is still an error
        read_lines(tmp_path / "b.log.gz")
    (tmp_path / "a.log").unlink()
    with pytest.raises(InputError, match="no readable log lines") as e:
        read_lines(tmp_path)
    assert "skipped 2" in e.value.message


def test_scale_scan_exits_2_on_a_corrupt_gz(tmp_path: Path) -> None:
    """The scale layer reuses the reader's gzip stream: a damaged deflate stream is an OSError there too."""
    p = tmp_path / "big.log.gz"
    p.write_bytes(_corrupt_gz())
    proc = subprocess.run([sys.executable, "-m", "logreasoner.cli.main", "scale", "scan", str(p), "--task", "anomaly",
                           "--model", "openai/x", "--api-base", "http://127.0.0.1:9/v1"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "big.log.gz" in proc.stderr and "Traceback" not in proc.stderr
