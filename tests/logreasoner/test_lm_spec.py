import hashlib
import zipfile
from pathlib import Path

import pytest

from logreasoner.errors import MissingAPIKeyError, ModelUnavailableError
from logreasoner.lm import registry
from logreasoner.lm.registry import EmbeddedModel, resolve_embedded
from logreasoner.lm.spec import load_lm, parse_spec

PAYLOAD = b"GGUF fake weights " * 100


@pytest.fixture
def fake_model(monkeypatch):
    m = EmbeddedModel(name="fake-tiny", package="fake-pkg", version="1.0", member="fake_pkg/tiny.gguf",
                      sha256=hashlib.sha256(PAYLOAD).hexdigest(), licence="MIT", description="test")
    monkeypatch.setitem(registry.EMBEDDED_MODELS, "fake-tiny", m)
    return m


def _fake_downloader(payload: bytes, calls: list):
    def download(model, dest: Path) -> Path:
        calls.append(model.package)
        wheel = dest / f"{model.import_name}-{model.version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(model.member, payload)
        return wheel
    return download


def test_pull_once_then_cached(fake_model, tmp_path):
    calls: list = []
    p = resolve_embedded("fake-tiny", downloader=_fake_downloader(PAYLOAD, calls), cache_dir=tmp_path)
    assert p.read_bytes() == PAYLOAD and calls == ["fake-pkg"]
    p2 = resolve_embedded("fake-tiny", downloader=_fake_downloader(PAYLOAD, calls), cache_dir=tmp_path)
    assert p2 == p and calls == ["fake-pkg"]  # no second download


def test_checksum_mismatch_caches_nothing(fake_model, tmp_path):
    with pytest.raises(ModelUnavailableError, match="checksum mismatch"):
        resolve_embedded("fake-tiny", downloader=_fake_downloader(b"tampered", []), cache_dir=tmp_path)
    assert not (tmp_path / "fake-tiny" / "tiny.gguf").exists()


def test_corrupted_cache_is_refetched(fake_model, tmp_path):
    calls: list = []
    p = resolve_embedded("fake-tiny", downloader=_fake_downloader(PAYLOAD, calls), cache_dir=tmp_path)
    p.write_bytes(b"corrupted")
    resolve_embedded("fake-tiny", downloader=_fake_downloader(PAYLOAD, calls), cache_dir=tmp_path)
    assert p.read_bytes() == PAYLOAD and len(calls) == 2


def test_no_download_allowed(fake_model, tmp_path):
    with pytest.raises(ModelUnavailableError, match="models pull"):
        resolve_embedded("fake-tiny", cache_dir=tmp_path, allow_download=False)


def test_parse_spec_forms(tmp_path):
    assert parse_spec("local").kind == "embedded"
    assert parse_spec("hf:local").backend == "hf"
    assert parse_spec("openai/gpt-4o-mini").kind == "remote"
    g = tmp_path / "m.gguf"
    g.write_bytes(b"x")
    assert parse_spec(str(g)).kind == "gguf"
    (tmp_path / "hfm").mkdir()
    (tmp_path / "hfm" / "config.json").write_text("{}")
    assert parse_spec(str(tmp_path / "hfm")).kind == "hf"
    with pytest.raises(ModelUnavailableError, match="unknown model"):
        parse_spec("no-such-thing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailableError, match="holds no model"):
        parse_spec(str(tmp_path / "empty"))
    assert parse_spec("local@q4_0") == parse_spec("local").__class__("embedded", "local", None, "q4_0")
    assert parse_spec("llamacpp:local-base@q4_1").weights == "q4_1" and parse_spec("local").weights is None
    with pytest.raises(ModelUnavailableError, match="local@q4_1 or local@q4_0"):
        parse_spec("local@q2_k")


def test_missing_api_key_is_clear(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        load_lm("openai/gpt-4o-mini")
    lm = load_lm("openai/my-model", api_base="http://127.0.0.1:9/v1")  # a local server needs no key
    assert lm.model == "openai/my-model@127.0.0.1:9"  # the address keeps DSPy's cache apart per server


def test_cache_name_follows_the_weights(tmp_path, tiny_model_dir):
    """DSPy caches on the model name: rewriting the weights at the same path must give a new name."""
    import os
    import shutil

    from logreasoner.lm import load_lm

    model = tmp_path / "m"
    shutil.copytree(tiny_model_dir, model)
    first = load_lm(str(model)).model
    assert load_lm(str(model)).model == first
    weights = model / "model.safetensors"
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert load_lm(str(model)).model != first
