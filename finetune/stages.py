"""The finetune stages, declared once, in run order.

Each :class:`Stage` names what it reads (``inputs``: earlier stages, whose finish times chain into its hash, so a
stage run again makes the stages after it stale), where it writes (``outputs``: a folder under the run folder),
which config sections decide its result (``config``: dotted :class:`~logreasoner.finetune.config.FinetuneConfig`
fields, hashed) and what runs it (``run``). The pipeline's stage order, hashes, paths and dispatch and the
``logreasoner finetune <stage>`` commands all come from :func:`pipeline_stages`: the built-in :data:`PIPELINE`
(each run by a :class:`~logreasoner.finetune.pipeline.Pipeline` method) plus the stages added with
:func:`register_stage` (each run by a function, its settings a ``[stages.<name>]`` table of the recipe).

A package can add stages without being imported by hand: name a stage its module registers under the
``logreasoner.finetune_stages`` entry point; installed stages load the first time the stages are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from logreasoner.errors import ConfigError
from logreasoner.plugins import entry_point_objects

__all__ = ["Stage", "PIPELINE", "STAGES", "pipeline_stages", "register_stage", "stage", "stage_table", "section"]


@dataclass(frozen=True)
class Stage:
    """One stage. A per-part stage (``per``: the config field that lists its parts, e.g. the SFT phases) keeps
    one ``state.json`` entry per part (``sft:thought``) and, with ``{part}`` in ``outputs``, one folder per part
    (``sft-thought``).

    A registered stage's ``run`` is a function ``run(pipeline, settings, out_dir) -> dict``: ``settings`` is its
    ``[stages.<name>]`` table as its ``config_model`` (None without one), ``out_dir`` its output folder, and the
    dict it returns is recorded as the stage's outputs in ``state.json``."""

    name: str  # the CLI command and the state.json key
    # a built-in stage: the Pipeline method that runs it (keyword ``force``, plus the CLI ``options``);
    # a registered stage: the function described above
    run: str | Callable[..., dict]
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
    # a registered stage's settings: the pydantic model (extra="forbid") of its [stages.<name>] table, hashed
    config_model: type[BaseModel] | None = None

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
        """The values of its config sections in ``cfg``, in declared order, then its settings (if it has any)."""
        return [section(cfg, path) for path in self.config] + ([self.settings(cfg)] if self.config_model else [])

    def settings(self, cfg: Any) -> BaseModel | None:
        """Its ``[stages.<name>]`` table in ``cfg`` (its ``config_model``'s defaults when the recipe has none)."""
        if self.config_model is None:
            return None
        table = cfg.stages.get(self.name)
        return table if isinstance(table, self.config_model) else self.validate(table or {})

    def validate(self, table: Any) -> BaseModel:
        """A ``[stages.<name>]`` table as this stage's ``config_model``; a bad field is a ConfigError naming it."""
        assert self.config_model is not None, f"stage {self.name!r} has no config_model"
        try:
            return self.config_model.model_validate(table)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise ConfigError(f"[stages.{self.name}] {where or 'table'}: {first['msg']}",
                              f"fix it; the fields of {self.config_model.__name__} are: "
                              f"{', '.join(self.config_model.model_fields)}") from None


def section(cfg: Any, path: str) -> Any:
    """A dotted field of a config (``"sft.lora"`` -> ``cfg.sft.lora``)."""
    for name in path.split("."):
        try:
            cfg = getattr(cfg, name)
        except AttributeError:
            raise ConfigError(f"no finetune config field {path!r}", "name a FinetuneConfig field, e.g. 'sft.lora'") \
                from None
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

STAGES: tuple[str, ...] = tuple(s.name for s in PIPELINE)  # the built-in stages' names
_ORDER: tuple[Stage, ...] = PIPELINE  # the run order: PIPELINE plus the registered stages
_LOADED_ENTRY_POINTS = False


def pipeline_stages() -> tuple[Stage, ...]:
    """Every stage in run order: the built-in ones and those registered (installed packages' included)."""
    _load_entry_points()
    return _ORDER


def stage(name: str) -> Stage:
    """The declared (or registered) stage called ``name``."""
    found = [s for s in pipeline_stages() if s.name == name]
    if not found:
        raise ConfigError(f"unknown stage {name!r}", f"choose from: {', '.join(s.name for s in _ORDER)}")
    return found[0]


def register_stage(st: Stage, *, after: str, replace: bool = False) -> Stage:
    """Add ``st`` to the run, right after the stage ``after`` (and after the stages registered there before it).

    ``st.run`` is a function ``run(pipeline, settings, out_dir) -> dict``; its key (whether a finished run of it
    is current) hashes its ``config`` sections, its ``[stages.<name>]`` table and the finish times of its
    ``inputs``, as for a built-in stage. ``replace=True`` replaces a stage registered under the same name
    (running a notebook cell or script twice). Returns ``st``."""
    if isinstance(st.run, str) or not callable(st.run):
        raise ConfigError(f"stage {st.name!r}: run must be a function run(pipeline, settings, out_dir) -> dict",
                          "Pipeline method names are for the built-in stages of finetune.stages.PIPELINE")
    if st.per or st.options:
        raise ConfigError(f"stage {st.name!r}: parts (per=) and CLI options (options=) are for built-in stages",
                          f"run it once per run and read its settings from a [stages.{st.name}] table "
                          "(config_model=)")
    model = st.config_model
    if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)
                                  and model.model_config.get("extra") == "forbid"):
        raise ConfigError(f"stage {st.name!r}: config_model {model!r} is not a pydantic model that rejects unknown "
                          "keys", "subclass pydantic.BaseModel with model_config = ConfigDict(extra='forbid'), so "
                          "that a misspelt key in its table is an error")
    if st.name in STAGES:
        raise ConfigError(f"stage {st.name!r} is built in", "give the stage another name")
    order = [s for s in pipeline_stages() if not (replace and s.name == st.name)]
    names = [s.name for s in order]
    if st.name in names:
        raise ConfigError(f"stage {st.name!r} is already registered", "pass replace=True to replace it")
    if after not in names:
        raise ConfigError(f"no stage {after!r} to run stage {st.name!r} after", f"choose from: {', '.join(names)}")
    i = names.index(after) + 1
    while i < len(order) and order[i].name not in STAGES:
        i += 1
    new = (*order[:i], st, *order[i:])
    _check(new)
    global _ORDER
    _ORDER = new
    return st


def stage_table(name: str, table: Any) -> BaseModel:
    """The ``[stages.<name>]`` table of a recipe, validated by the registered stage's ``config_model``."""
    owners = [s.name for s in pipeline_stages() if s.config_model is not None]
    if name not in owners:
        raise ConfigError(f"no registered stage takes the table [stages.{name}]",
                          "register the stage before loading the config (import the module that calls "
                          "register_stage, or install its package), or remove the table; stages with a table: "
                          f"{', '.join(owners) or 'none'}")
    return stage(name).validate(table)


def _load_entry_points() -> None:
    """Import the stages installed packages name under ``logreasoner.finetune_stages`` (their modules call
    :func:`register_stage`); one that fails to load is a warning naming it."""
    global _LOADED_ENTRY_POINTS
    if _LOADED_ENTRY_POINTS:
        return
    _LOADED_ENTRY_POINTS = True
    import warnings

    for name, obj in entry_point_objects("logreasoner.finetune_stages"):
        if not (isinstance(obj, Stage) and obj in _ORDER):
            warnings.warn(f"logreasoner.finetune_stages entry point {name!r} names {obj!r}, not a stage its "
                          "module registers (register_stage(Stage(...), after=...))", stacklevel=3)


def _check(stages: tuple[Stage, ...]) -> None:
    """Names unique; every input an earlier stage (or the stage itself, when it has parts)."""
    seen: set[str] = set()
    for s in stages:
        if s.name in seen:
            raise ConfigError(f"stage {s.name!r} is declared twice", "give each stage its own name")
        late = [i for i in s.inputs if i not in seen and not (i == s.name and s.per)]
        if late:
            raise ConfigError(f"stage {s.name!r} reads {late}, which do not run before it",
                              "run it after the stages it reads (after=), or fix its inputs")
        if "{part}" in s.outputs and not s.per:
            raise ConfigError(f"stage {s.name!r}: only a per-part stage may have {{part}} in its outputs",
                              "remove {part} from its outputs")
        seen.add(s.name)


_check(PIPELINE)
