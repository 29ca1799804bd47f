"""The finetune stages, declared once, in run order.

Each :class:`Stage` names what it reads (``inputs``: earlier stages, whose finish times chain into its hash, so a
stage run again makes the stages after it stale), where it writes (``outputs``: a folder under the run folder),
which config sections decide its result (``config``: dotted :class:`~logreasoner.finetune.config.FinetuneConfig`
fields, hashed) and which :class:`~logreasoner.finetune.pipeline.Pipeline` method runs it (``run``). The pipeline's
stage order, hashes, paths and dispatch and the ``logreasoner finetune <stage>`` commands all come from
:data:`PIPELINE`: a new stage is one entry here, its method on ``Pipeline`` and (if it has one) its config table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from logreasoner.errors import ConfigError

__all__ = ["Stage", "PIPELINE", "STAGES", "stage", "section"]


@dataclass(frozen=True)
class Stage:
    """One stage. A per-part stage (``per``: the config field that lists its parts, e.g. the SFT phases) keeps
    one ``state.json`` entry per part (``sft:thought``) and, with ``{part}`` in ``outputs``, one folder per part
    (``sft-thought``)."""

    name: str  # the CLI command and the state.json key
    run: str  # the Pipeline method that runs it (keyword ``force``, plus the CLI ``options``)
    summary: str  # the CLI command's help
    # stages whose outputs it reads: their finish times chain into its hash (a per-part stage read by a later
    # stage means its last part; read by itself, the part it continues from). A stage that picks one of its
    # inputs at run time (export: the final adapter; eval: each variant's) hashes what it picked instead.
    inputs: tuple[str, ...] = ()
    outputs: str = ""  # its folder under the run folder ("" for the run folder itself)
    config: tuple[str, ...] = ()  # FinetuneConfig sections hashed into its key, e.g. "sft.lora"
    per: str | None = None  # config field listing its parts (named items or strings); None: one entry
    options: tuple[str, ...] = ()  # CLI options beyond --config/--run-dir/--force/--json (finetune.cli)
    checkpoints: bool = False  # a training stage: trainer checkpoints under <outputs>/trainer to resume from
    enabled: str | None = None  # a boolean config field that puts it in a default run (None: always)

    def key(self, part: str | None = None) -> str:
        """Its ``state.json`` entry: ``name``, or ``name:part`` for one part of a per-part stage."""
        return f"{self.name}:{part}" if self.per and part is not None else self.name

    def folder(self, part: str | None = None) -> str:
        """Its output folder, relative to the run folder."""
        return self.outputs.format(part=part) if self.per else self.outputs

    def parts(self, cfg: Any) -> list[str]:
        """The names of its parts in ``cfg``, in order (none for a stage without parts)."""
        return [getattr(p, "name", p) for p in section(cfg, self.per)] if self.per else []

    def sections(self, cfg: Any) -> list[Any]:
        """The values of its config sections in ``cfg``, in declared order."""
        return [section(cfg, path) for path in self.config]


def section(cfg: Any, path: str) -> Any:
    """A dotted field of a config (``"sft.lora"`` -> ``cfg.sft.lora``)."""
    for name in path.split("."):
        cfg = getattr(cfg, name)
    return cfg


PIPELINE: tuple[Stage, ...] = (
    Stage("traces", "traces", "Stage 1: teacher traces (LM teacher samples + hinted re-asks, or programmatic experts).",
          outputs="traces", config=("teacher", "program")),
    Stage("sft-data", "sft_data",
          "Stage 2: thought and stepwise SFT datasets in the program's prompt format, DPP-selected.",
          inputs=("traces",), outputs="data", config=("sft_data", "program", "student")),
    Stage("sft", "sft", "Stage 3: SFT with TRL + LoRA (assistant-only loss), phase by phase.",
          inputs=("sft-data", "sft"), outputs="sft-{part}", config=("sft.lora", "sft.trl", "student"),
          per="sft.phases", options=("phase", "device"), checkpoints=True),
    Stage("mine", "mine",
          "Stage 4: run the tuned student on the training set, correct its mistakes into preference pairs.",
          inputs=("sft",), outputs="mine", config=("mine", "program")),
    # dpo continues the last SFT adapter, which reaches its hash through mine's
    Stage("dpo", "dpo", "Stage 5: DPO with TRL on the mined pairs, continuing the SFT adapter.",
          inputs=("mine",), outputs="dpo", config=("dpo", "student"), options=("device",), checkpoints=True),
    Stage("export", "export", "Stage 6: the manifest that makes the run folder a model spec (--model path/to/run).",
          inputs=("sft", "dpo"), outputs="", config=("export",), options=("merge",)),
    Stage("eval", "evaluate", "Score base and each stage's adapter through the program on the held-back split.",
          inputs=("sft", "dpo", "export"), outputs="eval", config=("eval", "program"), per="eval.variants",
          options=("variants",), enabled="eval.enabled"),
)

STAGES: tuple[str, ...] = tuple(s.name for s in PIPELINE)
_BY_NAME = {s.name: s for s in PIPELINE}


def stage(name: str) -> Stage:
    """The declared stage called ``name``."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ConfigError(f"unknown stage {name!r}", f"choose from: {', '.join(STAGES)}") from None


def _check(stages: tuple[Stage, ...]) -> None:
    """Names unique; every input an earlier stage (or the stage itself, when it has parts)."""
    seen: set[str] = set()
    for s in stages:
        if s.name in seen:
            raise ValueError(f"stage {s.name!r} is declared twice")
        late = [i for i in s.inputs if i not in seen and not (i == s.name and s.per)]
        if late:
            raise ValueError(f"stage {s.name!r} reads {late}, which do not run before it")
        if "{part}" in s.outputs and not s.per:
            raise ValueError(f"stage {s.name!r}: only a per-part stage may have {{part}} in its outputs")
        seen.add(s.name)


_check(PIPELINE)
