"""The run configuration: pydantic models, validated on creation, loaded from TOML.

Every stage reads its own table. ``[sft.trl]`` and ``[dpo.trl]`` are passed through to TRL's ``SFTConfig`` and
``DPOConfig`` (so the same file scales to GPUs with ``accelerate``) and checked against their fields when the
config is built (:mod:`logreasoner.finetune.trl_fields`); ``[sft.lora]`` goes to PEFT's ``LoraConfig``.

A minimal ``finetune.toml``::

    run_dir = "runs/smollm2"
    [[datasets]]
    name = "bgl_templates_anomaly"     # a logreasoner.evals dataset, or path = "data.jsonl" + task = "anomaly"
    train_limit = 32
    [teacher]
    kind = "expert"                     # or "lm" with model = "openai/gpt-4o-mini"

A stage added with :func:`~logreasoner.finetune.stages.register_stage` reads its settings from its own
``[stages.<name>]`` table, checked by the stage's ``config_model`` (register the stage before loading the config).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from logreasoner.errors import ConfigError
from logreasoner.finetune.stages import stage_table

__all__ = [
    "DatasetConfig",
    "ProgramConfig",
    "TeacherConfig",
    "SFTDataConfig",
    "SFTPhase",
    "SFTConfigModel",
    "MineConfig",
    "DPOConfigModel",
    "ExportConfig",
    "EvalConfig",
    "FinetuneConfig",
    "load_config",
    "DEFAULT_LORA",
    "CPU_TRL_DEFAULTS",
    "check_trl_tables",
]

DEFAULT_LORA: dict[str, Any] = {
    "r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
}
# What a CPU needs (NOTES-local-models.md): no bf16, no CUDA, and no gradient checkpointing (it only saves memory
# here, at ~30% more time). Anything set in [sft.trl] / [dpo.trl] wins.
CPU_TRL_DEFAULTS: dict[str, Any] = {
    "use_cpu": True,
    "bf16": False,
    "fp16": False,
    "gradient_checkpointing": False,
    "report_to": [],
    "save_strategy": "no",
    "logging_steps": 1,
    "dataloader_num_workers": 0,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetConfig(_Strict):
    """One source of examples: a ``logreasoner.evals`` dataset by name, or a JSONL file by path."""

    name: str | None = Field(None, description="a logreasoner.evals dataset name (e.g. bgl_templates_anomaly)")
    path: str | None = Field(None, description="a JSONL file with log/answer[/question/labels] fields")
    task: str | None = Field(None, description="the task of a JSONL file (a dataset name knows its own)")
    log_field: str = "log"
    answer_field: str = "answer"
    question_field: str | None = "question"
    labels_field: str | None = "labels"
    train_split: str = "train"
    test_split: str = "test"
    train_limit: int | None = Field(None, ge=1, description="at most this many training examples")
    test_limit: int | None = Field(None, ge=1, description="at most this many held-back test examples")
    balance: bool = Field(True, description="spread the limited sample evenly over the gold answers")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="held-back share of a JSONL file (seeded)")

    @model_validator(mode="after")
    def _one_source(self) -> "DatasetConfig":
        if bool(self.name) == bool(self.path):
            raise ValueError("give exactly one of name= (an evals dataset) or path= (a JSONL file)")
        if self.path and not self.task:
            raise ValueError(f"dataset {self.path}: say which task it is for (task = \"anomaly\", ...)")
        return self

    @property
    def label(self) -> str:
        return self.name or Path(str(self.path)).stem


class ProgramConfig(_Strict):
    """The program whose prompts are distilled (and evaluated): the same object runs, is scored and is trained."""

    kind: str = "coarse_to_fine"
    prompt: Literal["compact", "compact-prefix", "json"] = Field("compact", description=(
        "how the student is prompted (and its rows rendered): 'compact' (the compact adapter the programs use for "
        "grammar-constrained in-process models, the stage's instruction as the system message), 'compact-prefix' "
        "(the same, one system message for all stages and the instruction last: planner and step prompts share "
        "the excerpt as a prefix, evaluated once) or 'json' (DSPy's JSON adapter, as hosted models are asked); "
        "the exported manifest and the shipped card name it, and the programs ask the student with it"))
    retriever: Literal["default", "builtin", "none"] = "default"
    k: int = Field(3, ge=0, le=10, description="expert plans retrieved into the planner's prompt")
    max_templates: int = Field(40, ge=1)
    max_chars: int = Field(6000, ge=200)


class TeacherConfig(_Strict):
    """Who writes the traces: an LM (any spec) running the program, or the programmatic experts."""

    kind: Literal["lm", "expert", "both"] = "expert"
    model: str | None = Field(None, description="teacher model spec for kind=lm/both (any load_lm spec)")
    api_base: str | None = None
    samples: int = Field(4, ge=1, le=64, description="traces sampled per example")
    temperature: float = Field(0.7, gt=0.0, le=2.0)
    hint: bool = Field(True, description="re-ask with the gold answer as a hint where no sample is right")
    hint_samples: int = Field(2, ge=1, le=16)
    keep_per_example: int = Field(2, ge=1, description="correct traces kept per example")
    min_score: float = Field(1.0, ge=0.0, le=1.0, description="task.score at or above which a trace counts as right")
    threads: int = Field(1, ge=1, le=64)

    @model_validator(mode="after")
    def _needs_model(self) -> "TeacherConfig":
        if self.kind in ("lm", "both") and not self.model:
            raise ValueError("teacher.kind = 'lm' needs teacher.model (e.g. 'openai/gpt-4o-mini' or 'local')")
        return self


class SFTDataConfig(_Strict):
    """Building the thought, stepwise (and optional direct / chain-of-thought) datasets."""

    kinds: list[Literal["thought", "stepwise", "direct", "cot"]] = Field(
        default_factory=lambda: ["thought", "stepwise"],
        description="row kinds to build: the planner's and step reasoner's prompts, and the baselines' prompts")
    select: int | dict[str, int | dict[str, int]] | None = Field(None, description=(
        "DPP-selected rows per task and kind: one number, or a table by kind ('default' for the rest) whose "
        "values are a number or a table by task — or by dataset with select_by = 'dataset' (None: keep all)"))
    select_by: Literal["task", "dataset"] = Field("task", description=(
        "what the caps in select count: rows per task, or rows per dataset (a label dataset's cap then spread "
        "over its answers, see label_prior, before the DPP picks within each)"))
    label_prior: float = Field(0.0, ge=0.0, le=1.0, exclude_if=lambda v: v == 0.0, description=(
        "with select_by = 'dataset', how a label dataset's cap is spread over its answers: 0 evenly (every "
        "answer the same share, as far as it has rows), 1 at the data's own prior (rare answers stay rare), "
        "0.5 by square-root weights"))
    theta: float = Field(0.7, gt=0.0, lt=1.0, description="DPP relevance-vs-diversity trade-off")
    hinted_quality: float = Field(0.5, ge=0.0, le=1.0, description="DPP relevance of hinted traces (others 1.0)")
    max_tokens: int | None = Field(None, ge=64, description="drop conversations longer than this (never truncate)")


class SFTPhase(_Strict):
    name: str
    data: list[Literal["thought", "stepwise", "direct", "cot"]]
    continue_from: str | None = Field("previous", description=(
        "'previous' phase's adapter, another phase's name, a PEFT adapter folder, a GGUF LoRA file (e.g. the "
        "shipped student's logreasoner/data/student/adapter.gguf, imported into the run folder), or None"))
    trl: dict[str, Any] = Field(default_factory=dict, description="overrides of [sft.trl] for this phase")
    # unset, these two stay out of the phase's dump: the keys of runs made before they existed do not change
    select: dict[str, dict[str, int]] | None = Field(None, exclude_if=lambda v: v is None, description=(
        "this phase's own rows, drawn from the traces instead of the sft-data stage's: caps by kind (each kind "
        "of data) and then by dataset or task (as sft_data.select_by); a dataset or task it does not name gets "
        "no rows in this phase"))
    label_prior: float | None = Field(None, ge=0.0, le=1.0, exclude_if=lambda v: v is None, description=(
        "how this phase's own rows spread over a label dataset's answers (as sft_data.label_prior, whose value "
        "it takes when unset)"))

    @model_validator(mode="after")
    def _own_rows(self) -> "SFTPhase":
        if self.select is not None:
            missing = [k for k in self.data if k not in self.select]
            extra = [k for k in self.select if k not in self.data]
            if missing or extra:
                raise ValueError(f"SFT phase {self.name!r}: select must give caps for exactly its data kinds "
                                 f"{self.data} (missing {missing}, not in data {extra})")
        elif self.label_prior is not None:
            raise ValueError(f"SFT phase {self.name!r}: label_prior needs the phase's own rows (a select table)")
        return self


class SFTConfigModel(_Strict):
    phases: list[SFTPhase] = Field(default_factory=lambda: [
        SFTPhase(name="thought", data=["thought"], continue_from=None),
        SFTPhase(name="stepwise", data=["stepwise"]),
    ])
    lora: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_LORA))
    trl: dict[str, Any] = Field(default_factory=lambda: {
        "num_train_epochs": 1, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
        "learning_rate": 5e-4, "lr_scheduler_type": "constant", "max_length": 2048,
    })

    @field_validator("phases")
    @classmethod
    def _unique(cls, v: list[SFTPhase]) -> list[SFTPhase]:
        names = [p.name for p in v]
        if len(set(names)) != len(names):
            raise ValueError(f"SFT phase names must be unique, got {names}")
        return v


class MineConfig(_Strict):
    """Mistake mining: run the tuned student on the training set, correct its wrong solutions."""

    corrector: str = Field("student", description=(
        "'student' (self-correction with the gold answer), 'expert' (the task's programmatic expert rewrites the "
        "solution), 'auto' (self-correction where the answer is a label, the expert for free-text answers) or "
        "a model spec"))
    unused_first: bool = Field(True, description="mine training examples the SFT rows did not use first")
    max_pairs: int | None = Field(None, ge=1, description="stop mining once this many pairs are found")
    max_pairs_per_task: int | None = Field(None, ge=1, description=(
        "pairs per task at most (examples of a task that has them are skipped, so no task crowds out the rest)"))
    max_pairs_per_answer: int | None = Field(None, ge=1, description=(
        "pairs per gold label of a label task at most (one kind of mistake cannot fill a task's quota)"))
    text_threshold: float = Field(0.5, ge=0.0, le=1.0, description=(
        "free-text tasks (ROUGE-L): an answer scoring below this counts as a mistake"))
    api_base: str | None = None
    limit: int | None = Field(None, ge=1, description="at most this many training examples per task")
    constrain_gold: bool = Field(True, description="narrow the corrector's answer type to the gold label")
    backend: Literal["auto", "llamacpp", "hf"] = Field("auto", description="how the tuned student runs")
    include_format_failures: bool = True
    max_tokens: int | None = Field(None, ge=8)


class DPOConfigModel(_Strict):
    measure_margin: bool = Field(False, description="evaluate the mean reward margin on the pairs before/after")
    min_pairs: int = Field(2, ge=1, description="skip DPO (and say so) with fewer pairs than this")
    trl: dict[str, Any] = Field(default_factory=lambda: {
        "num_train_epochs": 1, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
        "learning_rate": 2e-4, "lr_scheduler_type": "constant", "beta": 0.1, "max_length": 2048,
    })


class ExportConfig(_Strict):
    merge: bool = Field(False, description="also write base+adapter merged as a HF folder")
    gguf_adapter: bool = Field(True, description="also write the adapter as a llama.cpp GGUF LoRA")


class EvalConfig(_Strict):
    """Optional: score base and each stage's adapter on the held-back split."""

    enabled: bool = False
    variants: list[str] = Field(default_factory=lambda: ["base", "thought", "stepwise", "dpo"])
    backend: Literal["auto", "llamacpp", "hf"] = "auto"
    max_tokens: int | None = Field(None, ge=8, description="cap per model call (None: the engine's default)")


class FinetuneConfig(_Strict):
    """The whole run."""

    run_dir: Path = Path("runs/finetune")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description=(
        "where TRL trains: 'cpu', 'cuda' (a GPU; bf16 when it supports it), or 'auto' (cuda when available)"))
    save_steps: int = Field(25, ge=1, description="optimizer steps between checkpoints inside a training stage "
                                                   "(a killed stage resumes from the last one)")
    threads: int | None = Field(None, ge=1, le=256, description=(
        "torch and llama.cpp threads (None: library defaults). On a loaded shared CPU, 1 can beat 2 by far"))
    datasets: list[DatasetConfig] = Field(default_factory=list)
    program: ProgramConfig = Field(default_factory=ProgramConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    student: str = Field("local", description="student model: 'local' (embedded SmolLM2), a .gguf or a HF folder")
    sft_data: SFTDataConfig = Field(default_factory=SFTDataConfig)
    sft: SFTConfigModel = Field(default_factory=SFTConfigModel)
    mine: MineConfig = Field(default_factory=MineConfig)
    dpo: DPOConfigModel = Field(default_factory=DPOConfigModel)
    export: ExportConfig = Field(default_factory=ExportConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    stages: dict[str, Any] = Field(default_factory=dict, description=(
        "settings of registered stages: one [stages.<name>] table each, validated by the stage's config_model"))

    @field_validator("run_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return Path(v).expanduser()

    @field_validator("stages")
    @classmethod
    def _stage_tables(cls, v: dict[str, Any]) -> dict[str, Any]:
        return {name: stage_table(name, table) for name, table in v.items()}  # ConfigError naming the table

    @model_validator(mode="after")
    def _trl_tables(self) -> "FinetuneConfig":
        check_trl_tables(self)  # raises ConfigError, which pydantic passes through as it is
        return self


def check_trl_tables(cfg: "FinetuneConfig") -> None:
    """``[sft.trl]`` (and each phase's ``trl``) against TRL's ``SFTConfig``, ``[dpo.trl]`` against ``DPOConfig``
    (a :class:`FinetuneConfig` checks itself when it is built; without TRL installed there is nothing to check)."""
    from logreasoner.finetune.trl_fields import check_trl_table

    check_trl_table("sft.trl", "SFTConfig", cfg.sft.trl)
    for p in cfg.sft.phases:
        check_trl_table(f"sft.phases[{p.name}].trl", "SFTConfig", p.trl)
    check_trl_table("dpo.trl", "DPOConfig", cfg.dpo.trl)


def load_config(path: str | Path | None = None, **overrides: Any) -> FinetuneConfig:
    """A :class:`FinetuneConfig` from a TOML file (relative ``run_dir``/dataset paths resolve from the file's
    folder), with top-level ``overrides`` applied; validation errors become a :class:`ConfigError`."""
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}", "pass --config path/to/finetune.toml")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML: {e}", "fix the line it names") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{p}: not UTF-8 text (byte {e.start}: {e.reason})",
                              "save the config file as UTF-8") from None
        except OSError as e:
            raise ConfigError(f"{p}: cannot be read ({e.strerror})", "check the path and its permissions") from None
        base = p.resolve().parent
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        cfg = FinetuneConfig.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"invalid finetune config at {where or 'top level'}: {first['msg']}",
                          "see logreasoner.finetune.config for the fields and their meaning") from None
    if not cfg.run_dir.is_absolute():
        cfg.run_dir = (base / cfg.run_dir).resolve()
    for d in cfg.datasets:
        if d.path and not Path(d.path).expanduser().is_absolute():
            d.path = str((base / d.path).resolve())
    return cfg
