"""The embedded weights converted once to the layout llama.cpp runs fastest (Q4_0), reused while their stamp holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from logreasoner.errors import ModelUnavailableError
from logreasoner.lm import runtime_weights as rw
from logreasoner.settings import get_settings


@pytest.fixture
def fake_convert(monkeypatch):
    calls = []

    def convert(source: Path, target: Path, ftype: str) -> None:
        calls.append((source, ftype))
        target.write_bytes(b"converted:" + source.read_bytes())

    monkeypatch.setattr(rw, "_convert", convert)
    monkeypatch.setattr(rw, "stamp_for", lambda sha, fmt: {"source_sha256": sha, "format": fmt, "llama_cpp_python": "x"})
    return calls


def test_q4_1_is_the_wheel_file_itself(tmp_path, fake_convert):
    src = tmp_path / "m.gguf"
    src.write_bytes(b"w")
    assert rw.runtime_weights(src, "abc", "q4_1", tmp_path / "cache") == src
    assert not fake_convert and not (tmp_path / "cache").exists()


def test_converted_once_then_reused_until_the_source_changes(tmp_path, fake_convert):
    src = tmp_path / "m.gguf"
    src.write_bytes(b"w1")
    out = rw.runtime_weights(src, "sha1", "q4_0", tmp_path / "cache")
    assert out.read_bytes() == b"converted:w1" and out.parent == tmp_path / "cache" and out.name == "m.q4_0.gguf"
    assert json.loads(out.with_name(out.name + ".json").read_text())["source_sha256"] == "sha1"
    assert rw.runtime_weights(src, "sha1", "q4_0", tmp_path / "cache") == out
    assert len(fake_convert) == 1 and fake_convert[0][1] == "LLAMA_FTYPE_MOSTLY_Q4_0"
    src.write_bytes(b"w2")  # another source (its checksum differs): converted again
    assert rw.runtime_weights(src, "sha2", "q4_0", tmp_path / "cache").read_bytes() == b"converted:w2"
    assert len(fake_convert) == 2
    out.with_name(out.name + ".json").write_text("not json")  # a broken stamp: converted again, not trusted
    rw.runtime_weights(src, "sha2", "q4_0", tmp_path / "cache")
    assert len(fake_convert) == 3


def test_unknown_format_names_the_choices(tmp_path):
    with pytest.raises(ModelUnavailableError, match="q4_1, q4_0"):
        rw.runtime_weights(tmp_path / "m.gguf", "sha", "q3_k", tmp_path)


def test_setting_is_validated(monkeypatch):
    monkeypatch.delenv("LOGREASONER_EMBEDDED_WEIGHTS", raising=False)
    assert get_settings().embedded_weights is None  # the weights the model was trained on (its card), else Q4_1
    monkeypatch.setenv("LOGREASONER_EMBEDDED_WEIGHTS", "q4_0")
    assert get_settings().embedded_weights == "q4_0"
    monkeypatch.setenv("LOGREASONER_EMBEDDED_WEIGHTS", "fp4")
    with pytest.raises(Exception, match="embedded_weights"):
        get_settings()


def test_a_failed_conversion_says_how_to_run_without_it(tmp_path):
    pytest.importorskip("llama_cpp")
    src = tmp_path / "broken.gguf"
    src.write_bytes(b"not a gguf file")
    with pytest.raises(ModelUnavailableError, match="LOGREASONER_EMBEDDED_WEIGHTS=q4_1"):
        rw.runtime_weights(src, "sha", "q4_0", tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.gguf")) and not list((tmp_path / "cache").glob(".convert-*"))


@pytest.mark.model
def test_the_embedded_weights_convert_to_q4_0_and_run(local_gguf, tmp_path):
    import llama_cpp

    GGUFReader = pytest.importorskip("gguf").GGUFReader

    out = rw.runtime_weights(Path(local_gguf), "sha-of-test", "q4_0", tmp_path)
    again = rw.runtime_weights(Path(local_gguf), "sha-of-test", "q4_0", tmp_path)
    assert again == out and out.stat().st_size < Path(local_gguf).stat().st_size
    types = {t.tensor_type.name for t in GGUFReader(str(out)).tensors if t.name.endswith("attn_q.weight")}
    assert types == {"Q4_0"}
    llm = llama_cpp.Llama(model_path=str(out), n_ctx=256, n_threads=1, verbose=False)
    assert llm.tokenize(b"hello")  # loads, and reads its vocabulary
