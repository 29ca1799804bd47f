"""Path confinement and read limits: '..', absolute paths, symlinks out of the root, sizes."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from logreasoner.agents.sandbox import PathNotAllowedError, ReadLimits, Sandbox
from logreasoner.errors import ConfigError, InputError


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    return secret


def test_relative_and_absolute_inside_are_allowed(logs_dir: Path) -> None:
    box = Sandbox([logs_dir])
    assert box.resolve("worker.log") == (logs_dir / "worker.log").resolve()
    assert box.resolve(str(logs_dir / "db.log")) == (logs_dir / "db.log").resolve()
    assert box.resolve("sub/../worker.log", must_exist=True).name == "worker.log"  # '..' that stays inside
    assert box.read("db.log").lines[2].text.endswith("No space left on device")


@pytest.mark.parametrize("path", ["../secret/passwd", "../../etc/passwd", "./../secret/passwd", "..", "a/../../x"])
def test_dotdot_escapes_are_refused(logs_dir: Path, outside: Path, path: str) -> None:
    box = Sandbox([logs_dir])
    with pytest.raises(PathNotAllowedError, match="outside the allowed folders"):
        box.resolve(path)


def test_absolute_paths_outside_are_refused(logs_dir: Path, outside: Path) -> None:
    box = Sandbox([logs_dir])
    for p in (str(outside / "passwd"), "/etc/passwd", "/"):
        with pytest.raises(PathNotAllowedError):
            box.read(p)


def test_a_sibling_folder_with_a_common_prefix_is_outside(tmp_path: Path, logs_dir: Path) -> None:
    twin = tmp_path / "logs2"
    twin.mkdir()
    (twin / "x.log").write_text("x\n")
    with pytest.raises(PathNotAllowedError):
        Sandbox([logs_dir]).resolve(str(twin / "x.log"))


def test_symlinks_out_of_the_root_are_refused(logs_dir: Path, outside: Path) -> None:
    (logs_dir / "link.log").symlink_to(outside / "passwd")
    (logs_dir / "linkdir").symlink_to(outside, target_is_directory=True)
    box = Sandbox([logs_dir])
    with pytest.raises(PathNotAllowedError, match="symlink"):
        box.read("link.log")
    with pytest.raises(PathNotAllowedError, match="symlink"):
        box.read("linkdir/passwd")
    files, skipped, _ = box.list_files(".")
    names = [f.path for f in files]
    assert "link.log" not in names and not any(n.startswith("linkdir") for n in names)
    assert skipped == 1  # the file link; the folder link is not descended into
    assert names == ["db.log", "scheduler.log", "worker.log"]


def test_symlinks_inside_the_root_are_followed(logs_dir: Path) -> None:
    (logs_dir / "alias.log").symlink_to(logs_dir / "db.log")
    r = Sandbox([logs_dir]).read("alias.log")
    assert r.path == "db.log" and len(r.lines) == 5


def test_a_file_swapped_for_a_symlink_after_the_check_is_not_opened(logs_dir: Path, outside: Path) -> None:
    box = Sandbox([logs_dir])
    real = box.resolve("db.log")
    real.unlink()
    real.symlink_to(outside / "passwd")  # the race: swapped between the check and the open
    with pytest.raises(InputError):
        box._open(real)


def test_a_root_itself_reached_through_a_symlink_works(tmp_path: Path, logs_dir: Path) -> None:
    via = tmp_path / "via"
    via.symlink_to(logs_dir, target_is_directory=True)
    box = Sandbox([via])
    assert box.roots == (logs_dir.resolve(),)
    assert len(box.read("worker.log").lines) == 8


def test_no_roots_means_no_files(logs_dir: Path) -> None:
    with pytest.raises(PathNotAllowedError, match="--root"):
        Sandbox([]).read(str(logs_dir / "db.log"))


def test_a_missing_root_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Sandbox([tmp_path / "nope"])


def test_missing_files_and_folders_say_so(logs_dir: Path) -> None:
    box = Sandbox([logs_dir])
    with pytest.raises(InputError, match="not found"):
        box.read("nope.log")
    (logs_dir / "sub").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        box.read("sub")


def test_byte_and_line_limits_stop_the_read(tmp_path: Path) -> None:
    (tmp_path / "big.log").write_text("".join(f"line {i} " + "x" * 50 + "\n" for i in range(1000)))
    r = Sandbox([tmp_path], ReadLimits(max_lines=10)).read("big.log")
    assert len(r.lines) == 10 and r.truncated_by == "lines"
    r = Sandbox([tmp_path], ReadLimits(max_bytes=1000)).read("big.log")
    assert r.bytes_read <= 1000 and r.truncated_by == "bytes" and 0 < len(r.lines) < 20
    r = Sandbox([tmp_path]).read("big.log", start=500, count=3)
    assert [ln.number for ln in r.lines] == [500, 501, 502] and r.more


def test_long_lines_are_cut_and_binary_files_refused(tmp_path: Path) -> None:
    (tmp_path / "long.log").write_text("a" * 50_000 + "\nshort\n")
    r = Sandbox([tmp_path], ReadLimits(max_line_chars=100)).read("long.log")
    assert r.lines[0].text.startswith("a" * 100) and "truncated" in r.lines[0].text
    assert r.lines[1].text == "short" and r.lines[1].number == 2
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(InputError, match="binary"):
        Sandbox([tmp_path]).read("blob.bin")


def test_gzip_is_read_and_bounded_after_decompression(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "bomb.log.gz", "wb") as f:
        f.write(b"A" * 100 + b"\n" + b"0" * 5_000_000)  # 5 MB that compresses to a few KB
    assert os.path.getsize(tmp_path / "bomb.log.gz") < 50_000
    r = Sandbox([tmp_path], ReadLimits(max_bytes=200_000)).read("bomb.log.gz")
    assert r.bytes_read <= 200_000 and r.truncated_by == "bytes" and r.lines[0].text == "A" * 100


def test_several_roots(tmp_path: Path, logs_dir: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.log").write_text("hello\n")
    box = Sandbox([logs_dir, other])
    assert box.read("x.log").lines[0].text == "hello"
    assert box.read("worker.log").path == "logs/worker.log"
    assert box.read("logs/worker.log").lines[0].number == 1
