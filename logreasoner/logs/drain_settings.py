"""LogPAI's per-system Drain settings for Loghub-2k (regex masks, similarity threshold, tree depth).

Values as in the Loghub/LogPAI benchmark (logpai/logparser, ``benchmark/Drain_benchmark.py``); the regexes
mask variables with ``<*>`` before Drain sees the line. ``DEFAULT`` is used for logs of unknown systems.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DrainSettings", "LOGPAI_DRAIN_SETTINGS", "DEFAULT", "settings_for", "check_regexes",
           "make_template_miner"]


class DrainSettings(BaseModel):
    """Drain parameters: masks applied first, then the prefix tree with ``depth`` and threshold ``st``."""

    model_config = ConfigDict(frozen=True)

    regex: tuple[str, ...] = ()
    st: float = Field(0.5, gt=0.0, le=1.0, description="similarity threshold")
    depth: int = Field(4, ge=3, le=32, description="tree depth (Drain counts root and leaf)")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return check_regexes(v)


def check_regexes(v: tuple[str, ...]) -> tuple[str, ...]:
    """Every mask must compile (a pydantic validator body: ValueError names the regex and the fix)."""
    import re

    for r in v:
        try:
            re.compile(r)
        except re.error as e:
            raise ValueError(f"regex {r!r} does not compile: {e}; fix or drop it") from None
    return v


def make_template_miner(settings: DrainSettings):
    """A Drain3 ``TemplateMiner`` configured with ``settings`` (masks replace matches with ``<*>``)."""
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    cfg = TemplateMinerConfig()
    cfg.profiling_enabled = False
    cfg.drain_sim_th = settings.st
    cfg.drain_depth = settings.depth
    cfg.drain_max_children = 100
    cfg.masking_instructions = [MaskingInstruction(r, "*") for r in settings.regex]
    return TemplateMiner(config=cfg)


_S = DrainSettings
LOGPAI_DRAIN_SETTINGS: dict[str, DrainSettings] = {
    "HDFS": _S(regex=(r"blk_-?\d+", r"(\d+\.){3}\d+(:\d+)?"), st=0.5, depth=4),
    "Hadoop": _S(regex=(r"(\d+\.){3}\d+",), st=0.5, depth=4),
    "Spark": _S(regex=(r"(\d+\.){3}\d+", r"\b[KGTM]?B\b", r"([\w-]+\.){2,}[\w-]+"), st=0.5, depth=4),
    "Zookeeper": _S(regex=(r"(/|)(\d+\.){3}\d+(:\d+)?",), st=0.5, depth=4),
    "BGL": _S(regex=(r"core\.\d+",), st=0.5, depth=4),
    "HPC": _S(regex=(r"=\d+",), st=0.5, depth=4),
    "Thunderbird": _S(regex=(r"(\d+\.){3}\d+",), st=0.5, depth=4),
    "Windows": _S(regex=(r"0x.*?\s",), st=0.7, depth=5),
    "Linux": _S(regex=(r"(\d+\.){3}\d+", r"\d{2}:\d{2}:\d{2}"), st=0.39, depth=6),
    "Android": _S(regex=(r"(/[\w-]+)+", r"([\w-]+\.){2,}[\w-]+",
                         r"\b(\-?\+?\d+)\b|\b0[Xx][a-fA-F\d]+\b|\b[a-fA-F\d]{4,}\b"), st=0.2, depth=6),
    "HealthApp": _S(regex=(), st=0.2, depth=4),
    "Apache": _S(regex=(r"(\d+\.){3}\d+",), st=0.5, depth=4),
    "Proxifier": _S(regex=(r"<\d+\ssec", r"([\w-]+\.)+[\w-]+(:\d+)?", r"\d{2}:\d{2}(:\d{2})*", r"[KGTM]B"),
                    st=0.6, depth=3),
    "OpenSSH": _S(regex=(r"(\d+\.){3}\d+", r"([\w-]+\.){2,}[\w-]+"), st=0.6, depth=5),
    "OpenStack": _S(regex=(r"((\d+\.){3}\d+,?)+", r"/.+?\s", r"\d+"), st=0.5, depth=5),
    "Mac": _S(regex=(r"([\w-]+\.){2,}[\w-]+",), st=0.7, depth=6),
}

# Unknown systems: mask IPv4 addresses (with port) and hex numbers; Drain routes other numeric tokens to <*>.
DEFAULT = _S(regex=(r"(\d+\.){3}\d+(:\d+)?", r"\b0[xX][0-9a-fA-F]+\b"), st=0.5, depth=4)


def settings_for(system: str | None) -> DrainSettings:
    """LogPAI's settings for a Loghub system name (case-insensitive), else :data:`DEFAULT`."""
    if system:
        for k, v in LOGPAI_DRAIN_SETTINGS.items():
            if k.lower() == str(system).lower():
                return v
    return DEFAULT
