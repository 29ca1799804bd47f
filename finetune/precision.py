"""Whether training autocasts to bfloat16: ``bf16 = "auto"`` in ``[sft.trl]`` / ``[dpo.trl]``.

bfloat16 autocast pays only where the hardware computes in it. On a CPU without native bfloat16 instructions
(x86 without AVX512-BF16 or AMX, an Arm core without BF16) every autocast matmul converts both sides and falls back
to slow kernels: on a 2-core AVX2 AMD EPYC one SFT step of SmolLM2-135M with the recipe's LoRA (8 rows of 700
tokens) took 404 s with ``bf16 = true`` against 44 s without it (2026-12-03, benchmarks/STUDENT.md), and a DPO
step 430-470 s against 60-75 s. Where the CPU has it, autocast made steps about twice as fast. ``"auto"`` turns it
on exactly there (and on a GPU that supports bfloat16); an explicit ``true`` on a CPU without it is kept, with a
warning that says what it costs.
"""

from __future__ import annotations

import functools
import logging
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["AUTO", "cpu_flags", "cpu_has_native_bf16", "resolve_bf16"]

AUTO = "auto"
_X86_BF16 = frozenset({"avx512_bf16", "amx_bf16"})
log = logging.getLogger(__name__)


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of a ``/proc/cpuinfo`` text (x86 ``flags``, Arm ``Features``), lower-cased."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.lower().split())
    return frozenset(flags)


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 / AMX on x86, BF16 on Arm)."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        flags = cpu_flags(info.read_text(errors="replace"))
        return bool(flags & _X86_BF16) or ("bf16" in flags and platform.machine().lower() in ("aarch64", "arm64"))
    if sys.platform == "darwin":  # Apple silicon from M2 on
        try:
            out = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True,
                                 timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return False
        return out == "1"
    return False


def resolve_bf16(value: Any, device: str) -> Any:
    """The ``bf16`` TRL gets on ``device`` ('cpu' or 'cuda') for a table's value (True, False or "auto")."""
    if value == AUTO:
        if device == "cuda":
            import torch

            return bool(torch.cuda.is_bf16_supported())
        return cpu_has_native_bf16()
    if value is True and device == "cpu" and not cpu_has_native_bf16():
        log.warning("bf16 = true on a CPU without native bfloat16 (no AVX512-BF16/AMX): autocast makes each training "
                    "step several times slower here (SFT 404 s vs 44 s per step measured on AVX2); "
                    "set bf16 = \"auto\" or false in [sft.trl] / [dpo.trl]")
    return value
