"""The whole run, stage by stage: traces -> sft-data -> sft (thought, stepwise) -> mine -> dpo -> export
[-> eval], as declared in :mod:`logreasoner.finetune.stages` (plus the stages registered there). Each built-in
stage is a method here, a function of the config (plus optional in-memory examples and LMs for Python callers); a
registered stage is its own function. Each writes its artefacts under its declared folder of ``run_dir`` and
records itself in ``state.json``. A finished stage is skipped while its key (its config sections
and the finish times of the stages it reads) is unchanged; ``force=True`` reruns it, and so makes the stages
after it stale.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

from tqdm.auto import tqdm

from logreasoner.errors import ConfigError
from logreasoner.finetune.config import FinetuneConfig
from logreasoner.finetune.data import example_id, load_examples
from logreasoner.finetune.stages import STAGES, Stage, pipeline_stages, section, stage
from logreasoner.finetune.state import RunState, config_hash

__all__ = ["Pipeline", "STAGES", "run_pipeline"]

SFT, DPO, EXPORT = stage("sft"), stage("dpo"), stage("export")


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json") if hasattr(model, "model_dump") else model


class Pipeline:
    """One run folder. Python callers may hand in examples and LMs; the CLI builds everything from the config."""

    def __init__(self, cfg: FinetuneConfig, *, train_examples: list | None = None, test_examples: list | None = None,
                 teacher_lm: Any = None, corrector_lm: Any = None, progress: bool = True) -> None:
        self.cfg = cfg
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.state = RunState(self.run_dir)
        self._train, self._test = train_examples, test_examples
        self.teacher_lm, self.corrector_lm = teacher_lm, corrector_lm
        self.show_progress = progress
        (self.run_dir / "config.json").write_text(json.dumps(_dump(cfg), indent=1, default=str))

    # ---------------------------------------------------------------------------------------------- helpers
    def _bar(self, total: int, desc: str) -> Any:
        return tqdm(total=total, desc=desc, disable=not self.show_progress, dynamic_ncols=True)

    def train_examples(self) -> list:
        if self._train is None:
            if not self.cfg.datasets:
                raise ConfigError("no training data", "add a [[datasets]] table (name = ... or path = ...)")
            self._train = [ex for d in self.cfg.datasets
                           for ex in load_examples(d, "train", seed=self.cfg.seed, limit=d.train_limit)]
        return self._train

    def test_examples(self) -> list:
        if self._test is None:
            self._test = [ex for d in self.cfg.datasets
                          for ex in load_examples(d, "test", seed=self.cfg.seed, limit=d.test_limit)]
        return self._test

    def out_dir(self, name: str, part: str | None = None) -> Path:
        """A stage's declared output folder (one part's, for a per-part stage)."""
        return self.run_dir / stage(name).folder(part)

    def _finished(self, key: str | None) -> str | None:
        return (self.state.stage(key) or {}).get("finished") if key else None

    def _input_key(self, st: Stage, name: str, prior: str | None) -> str | None:
        """The state entry behind one input of ``st``: a per-part stage read by a later one is its last part;
        read by itself, the part ``prior`` it continues from (None: it starts afresh)."""
        src = stage(name)
        if src is st:
            return st.key(prior) if prior else None
        return src.key(src.parts(self.cfg)[-1]) if src.per else src.key()

    def _key(self, st: Stage, *extra: Any, part_cfg: Any = None, prior: str | None = None,
             reads: list[Any] | None = None) -> str:
        """A stage's key: the part's own settings (an SFT phase), the stage's config sections, the finish times
        of the stages it reads (or ``reads``, what a stage that picks its input hashes instead), then ``extra``
        (what else decides its result, e.g. the example ids)."""
        if reads is None:
            reads = [self._finished(self._input_key(st, n, prior)) for n in st.inputs]
        head = [part_cfg] if part_cfg is not None else []
        return config_hash([_dump(p) for p in (*head, *st.sections(self.cfg), *reads, *extra)])

    def _stage(self, st: Stage, part: str | None, chash: str, force: bool, fn: Callable[[dict], None]) -> dict:
        name = st.key(part)
        if not force and self.state.done(name, chash):
            return self.state.stage(name)["outputs"]
        if st.checkpoints:
            # a stage killed mid-way resumes from its last checkpoint; one whose configuration changed (or is
            # forced) starts again, so stale checkpoints must not be picked up
            prev = self.state.stage(name) or {}
            if force or prev.get("config_hash") != chash or prev.get("status") == "done":
                shutil.rmtree(self.out_dir(st.name, part) / "trainer", ignore_errors=True)
        with self.state.running(name, chash) as out:
            fn(out)
        return out

    @property
    def phases(self) -> list:
        return self.cfg.sft.phases

    def phase_adapter(self, phase: str) -> Path:
        return self.out_dir("sft", phase) / "adapter"

    def last_sft_adapter(self) -> Path:
        if not self.phases:
            raise ConfigError("no SFT phases configured", "add [[sft.phases]] tables")
        return self.phase_adapter(self.phases[-1].name)

    def dpo_is_current(self) -> bool:
        """The DPO adapter exists and was trained after the last SFT phase finished (an SFT phase run again
        leaves the older DPO adapter stale until mine and dpo run again)."""
        dpo = self.state.stage(DPO.key())
        if not dpo or dpo.get("status") != "done" or dpo["outputs"].get("skipped"):
            return False
        sft = self.state.stage(SFT.key(self.phases[-1].name)) or {}
        return sft.get("status") == "done" and str(dpo.get("started", "")) >= str(sft.get("finished", ""))

    def _final(self) -> tuple[Stage, str | None]:
        """The stage (and part) whose adapter is the run's result: DPO when current, else the last SFT phase."""
        if self.dpo_is_current():
            return DPO, None
        self.last_sft_adapter()  # says what to do when there is no SFT phase
        return SFT, self.phases[-1].name

    def final_adapter(self) -> tuple[Path, str]:
        """The final adapter and the folder it lives in (``dpo``, ``sft-<last phase>``)."""
        st, part = self._final()
        return self.out_dir(st.name, part) / "adapter", st.folder(part)

    def _lms(self, adapter: Path | None, max_tokens: int | None, backend: str) -> tuple[Any, Any]:
        from logreasoner.finetune.models import choose_backend, student_lm

        kw = dict(backend=backend, threads=self.cfg.threads, max_tokens=max_tokens)
        a = student_lm(self.cfg.student, adapter, **kw)
        # llama.cpp keeps one prompt prefix per engine: a second engine for the step stage keeps both warm
        b = student_lm(self.cfg.student, adapter, **kw) if choose_backend(self.cfg.student, backend) == "llamacpp" else a
        return a, b

    # ---------------------------------------------------------------------------------------------- stages
    def traces(self, force: bool = False) -> dict:
        """Stage 1: teacher traces of the training examples (programmatic experts and/or an LM teacher with hinted
        re-asks) in ``traces/traces.jsonl``; returns the stage's figures (traces per source and task)."""
        from logreasoner.finetune.traces import generate_traces, save_traces

        st = stage("traces")
        exs = self.train_examples()
        chash = self._key(st, sorted(example_id(e) for e in exs))

        def run(out: dict) -> None:
            bar = self._bar(len(exs) * (2 if self.cfg.teacher.kind == "both" else 1), "traces")
            traces = generate_traces(exs, self.cfg.teacher, program_cfg=self.cfg.program, teacher_lm=self.teacher_lm,
                                     progress=bar)
            bar.close()
            if not traces:
                raise ConfigError("the teacher wrote no usable trace", "check the teacher model and the data")
            save_traces(traces, self.out_dir(st.name) / "traces.jsonl")
            out.update(examples=len(exs), traces=len(traces),
                       hinted=sum(t.hinted for t in traces),
                       by_source={s: sum(t.source == s for t in traces) for s in sorted({t.source for t in traces})},
                       by_task={k: sum(t.task == k for t in traces) for k in sorted({t.task for t in traces})},
                       examples_without_trace=len(exs) - len({t.example_id for t in traces}))
        return self._stage(st, None, chash, force, run)

    def sft_data(self, force: bool = False) -> dict:
        """Stage 2: the thought and stepwise SFT datasets, rendered in the program's prompt format and selected for
        diversity (DPP), in ``data/``; returns rows per kind and task."""
        from logreasoner.finetune.sft_data import build_sft_datasets
        from logreasoner.finetune.student import load_student_tokenizer
        from logreasoner.finetune.traces import load_traces

        st = stage("sft-data")
        chash = self._key(st)

        def run(out: dict) -> None:
            traces = load_traces(self.out_dir("traces") / "traces.jsonl")
            tok = load_student_tokenizer(self.cfg.student)
            d = self.cfg.sft_data
            out.update(build_sft_datasets(traces, self.out_dir(st.name), program_cfg=self.cfg.program,
                                          select=d.select, theta=d.theta, hinted_quality=d.hinted_quality,
                                          tokenizer=tok, max_tokens=d.max_tokens, kinds=tuple(d.kinds),
                                          select_by=d.select_by, label_prior=d.label_prior))
        return self._stage(st, None, chash, force, run)

    def _phase_rows(self, ph: Any, out: dict) -> Path:
        """A phase with its own ``select``: its rows drawn from the traces (rendered like the sft-data stage's) into
        ``sft-<phase>/data``; only the datasets (or tasks) it names are rendered. Returns the folder."""
        from logreasoner.finetune.sft_data import build_sft_datasets
        from logreasoner.finetune.student import load_student_tokenizer
        from logreasoner.finetune.traces import load_traces

        d = self.cfg.sft_data
        group = (lambda t: t.dataset or t.task) if d.select_by == "dataset" else (lambda t: t.task)
        named = {g for caps in ph.select.values() for g in caps}
        traces = [t for t in load_traces(self.out_dir("traces") / "traces.jsonl") if group(t) in named]
        if not traces:
            raise ConfigError(f"SFT phase {ph.name!r}: no trace belongs to {sorted(named)}",
                              f"name datasets (or tasks) of this run's traces in its select (by {d.select_by})")
        # a group one kind does not name gets none of that kind's rows (uncapped would mean all of them)
        select = {kind: {g: caps.get(g, 0) for g in named} for kind, caps in ph.select.items()}
        folder = self.out_dir(SFT.name, ph.name) / "data"
        prior = d.label_prior if ph.label_prior is None else ph.label_prior
        out["data"] = build_sft_datasets(traces, folder, program_cfg=self.cfg.program, select=select,
                                         theta=d.theta, hinted_quality=d.hinted_quality,
                                         tokenizer=load_student_tokenizer(self.cfg.student),
                                         max_tokens=d.max_tokens, kinds=tuple(ph.data), select_by=d.select_by,
                                         label_prior=prior)
        return folder

    def sft(self, phase: str | None = None, force: bool = False) -> dict:
        """Train one phase (by name) or every phase in order."""
        from logreasoner.finetune.sft import train_sft
        from logreasoner.finetune.sft_data import load_sft_dataset

        results = {}
        previous: str | None = None
        for ph in self.phases:
            # the adapter this phase continues: the previous phase's, another phase's (by name), a folder, or none
            prior = previous if ph.continue_from == "previous" else None
            init = self.phase_adapter(prior) if prior else None
            imported: list[str] = []  # an imported adapter's folder is named by its content: a new file, a new key
            if ph.continue_from and ph.continue_from != "previous":
                if Path(ph.continue_from).suffix == ".gguf":  # a shipped student's adapter: its PEFT form
                    init = self._imported_folder(Path(ph.continue_from))  # written when the phase runs
                    imported = [init.name]
                elif Path(ph.continue_from).exists():
                    init = Path(ph.continue_from)
                else:
                    prior = ph.continue_from
                    init = self.phase_adapter(prior)
            previous = ph.name
            if phase is not None and ph.name != phase:
                continue
            chash = self._key(SFT, *imported, part_cfg=ph, prior=prior)

            def run(out: dict, ph=ph, init=init, imported=imported) -> None:
                if imported and not (init / "adapter_config.json").is_file():
                    self._import_adapter(Path(ph.continue_from), init)
                if init is not None and not (init / "adapter_config.json").is_file():
                    raise ConfigError(f"SFT phase {ph.name!r} continues from {init}, which does not exist",
                                      "run the earlier phase first")
                data = self._phase_rows(ph, out) if ph.select is not None else self.out_dir("sft-data")
                ds = load_sft_dataset(data, list(ph.data))
                out.update(train_sft(ds, self.out_dir(SFT.name, ph.name), student=self.cfg.student,
                                     init_adapter=init, lora=self.cfg.sft.lora, trl=self.cfg.sft.trl,
                                     phase_trl=ph.trl, threads=self.cfg.threads, device=self.cfg.device,
                                     save_steps=self.cfg.save_steps))
            results[ph.name] = self._stage(SFT, ph.name, chash, force, run)
        if phase is not None and phase not in results:
            raise ConfigError(f"no SFT phase named {phase!r}", f"choose one of: {', '.join(p.name for p in self.phases)}")
        return results

    def _imported_folder(self, gguf_path: Path) -> Path:
        """Where a GGUF LoRA (a shipped student's ``adapter.gguf``) lives as a PEFT folder in the run folder: named
        by the file's content, so another adapter behind the same path is another folder (and another key)."""
        from logreasoner.lm.registry import sha256_file

        if not gguf_path.is_file():
            raise ConfigError(f"continue_from names {gguf_path}, which does not exist",
                              "name an adapter.gguf (logreasoner/data/student/adapter.gguf is the shipped student's)")
        return self.cfg.run_dir / "imported" / f"{gguf_path.stem}-{sha256_file(gguf_path)[:12]}"

    def _import_adapter(self, gguf_path: Path, folder: Path) -> None:
        from logreasoner.finetune.gguf_lora import import_gguf_lora
        from logreasoner.finetune.student import ensure_student_folder

        import_gguf_lora(gguf_path, folder, base_config=ensure_student_folder(self.cfg.student),
                         base_model=self.cfg.student)

    def mine_examples(self) -> list:
        """The mining pool (:func:`~logreasoner.finetune.mine_pool.mine_pool`) of this run's training examples."""
        from logreasoner.finetune.mine_pool import mine_pool

        return mine_pool(self.train_examples(), self.out_dir("sft-data"), self.cfg.mine)

    def mine(self, force: bool = False) -> dict:
        """Stage 4: run the SFT student on the mining pool and turn its mistakes, corrected (self-correction or the
        expert), into DPO preference pairs in ``mine/pairs.jsonl``; returns pairs per source and task."""
        from logreasoner.finetune.mine_pool import mine_figures
        from logreasoner.finetune.mining import mine_pairs, save_jsonl

        st, m = stage("mine"), self.cfg.mine
        adapter = self.last_sft_adapter()
        exs = self.mine_examples()
        chash = self._key(st, sorted(example_id(e) for e in exs))

        def run(out: dict) -> None:
            if not (adapter / "adapter_config.json").is_file():
                raise ConfigError(f"no SFT adapter at {adapter}", "run the 'sft' stage first")
            planner_lm, step_lm = self._lms(adapter, m.max_tokens, m.backend)
            if self.corrector_lm is not None:
                corrector, mode = self.corrector_lm, m.corrector if m.corrector in ("auto", "expert") else "lm"
            elif m.corrector in ("student", "auto", "expert"):
                corrector, mode = step_lm, m.corrector
            else:
                from logreasoner.lm import load_lm

                corrector, mode = load_lm(m.corrector, api_base=m.api_base), "lm"
            bar = self._bar(len(exs), "mine" + (f" (stops at {m.max_pairs} pairs)" if m.max_pairs else ""))
            partial = self.out_dir(st.name) / f"partial.{chash[:12]}.jsonl"
            if force and partial.is_file():
                partial.unlink()
            pairs, records = mine_pairs(exs, student_lm=planner_lm, step_lm=step_lm, corrector_lm=corrector,
                                        program_cfg=self.cfg.program, constrain_gold=m.constrain_gold,
                                        include_format_failures=m.include_format_failures,
                                        min_score=self.cfg.teacher.min_score, progress=bar,
                                        corrector=mode if mode != "lm" else "student",
                                        text_threshold=m.text_threshold, max_pairs=m.max_pairs,
                                        max_pairs_per_task=m.max_pairs_per_task,
                                        max_pairs_per_answer=m.max_pairs_per_answer, checkpoint=partial)
            bar.close()
            save_jsonl(pairs, self.out_dir(st.name) / "pairs.jsonl")
            save_jsonl(records, self.out_dir(st.name) / "records.jsonl")
            out.update(mine_figures(records, pairs, min_score=self.cfg.teacher.min_score, corrector=m.corrector))
        return self._stage(st, None, chash, force, run)

    def dpo(self, force: bool = False) -> dict:
        """Stage 5: DPO with TRL on the mined pairs, continuing the last SFT adapter (the reference policy), into
        ``dpo/adapter``; resumes from its last checkpoint; returns the training figures."""
        from logreasoner.finetune.dpo import pairs_dataset, train_dpo
        from logreasoner.finetune.mining import load_jsonl

        chash = self._key(DPO)

        def run(out: dict) -> None:
            path = self.out_dir("mine") / "pairs.jsonl"
            if not path.is_file():
                raise ConfigError(f"no pairs at {path}", "run the 'mine' stage first")
            pairs = load_jsonl(path)
            if len(pairs) < self.cfg.dpo.min_pairs:
                out.update(skipped=True, pairs=len(pairs),
                           reason=f"{len(pairs)} pairs < dpo.min_pairs={self.cfg.dpo.min_pairs}")
                return
            out.update(train_dpo(pairs_dataset(pairs), self.out_dir(DPO.name), sft_adapter=self.last_sft_adapter(),
                                 student=self.cfg.student, trl=self.cfg.dpo.trl, threads=self.cfg.threads,
                                 measure=self.cfg.dpo.measure_margin, device=self.cfg.device,
                                 save_steps=self.cfg.save_steps))
        return self._stage(DPO, None, chash, force, run)

    def export(self, force: bool = False, merge: bool = False) -> dict:
        """Write the manifest (``merge=True`` also writes base + adapter merged, and reruns the stage)."""
        from logreasoner.finetune.export import export_run

        if merge:
            self.cfg.export.merge, force = True, True
        final, part = self._final()
        adapter, label = self.out_dir(final.name, part) / "adapter", final.folder(part)
        # export picks its input at run time: the chosen stage's folder name and finish time are in its key
        chash = self._key(EXPORT, reads=[label, self._finished(final.key(part))])

        def run(out: dict) -> None:
            tasks = sorted({e.get("task") for e in self.train_examples()})
            out.update(export_run(self.out_dir(EXPORT.name), adapter, student=self.cfg.student,
                                  program=_dump(self.cfg.program), tasks=tasks, stage=label,
                                  gguf=self.cfg.export.gguf_adapter, merge=self.cfg.export.merge))
            out["stage"] = label
        return self._stage(EXPORT, None, chash, force, run)

    def stage_model(self, variant: str) -> str:
        """A model spec for one stage's student: ``base``, or a stage folder (``thought``/``stepwise``/``dpo``)
        given a ``logreasoner_model.json`` of its own (its adapter, and the GGUF LoRA of it), so the evals runner
        and ``--model`` can score every stage like any model."""
        from logreasoner.finetune.export import write_manifest
        from logreasoner.finetune.models import gguf_adapter_for
        from logreasoner.finetune.student import resolve_student

        if variant == "base":
            return self.cfg.student
        adapter = self.variant_adapter(variant)
        if adapter is None or not (adapter / "adapter_config.json").is_file():
            raise ConfigError(f"no {variant} adapter at {adapter}", "run the stage that writes it first")
        extra: dict[str, Any] = {"trained_by": "logreasoner.finetune", "final_stage": variant}
        if resolve_student(self.cfg.student)[1] is not None:
            extra["gguf_adapter"] = gguf_adapter_for(adapter, self.cfg.student).name
        write_manifest(adapter.parent, base=self.cfg.student, adapter=adapter.name, extra=extra)
        return str(adapter.parent)

    def variant_adapter(self, variant: str) -> Path | None:
        """The adapter scored as ``variant``: none for ``base``, the DPO adapter, the exported (``final``) one, or
        an SFT phase's."""
        if variant == "base":
            return None
        if variant == "dpo":
            return self.out_dir(DPO.name) / "adapter"
        if variant == "final":
            return self.out_dir(EXPORT.name) / "adapter"
        return self.phase_adapter(variant)

    def evaluate(self, variants: list[str] | None = None, force: bool = False) -> dict:
        """The held-back evaluation: each variant (base, each SFT phase, DPO) runs the program on the test
        examples; per variant and task: score, format failures, degenerate outputs, F1, seconds per example."""
        from logreasoner.finetune.evaluate import evaluate_program
        from logreasoner.finetune.mining import save_jsonl

        st, e = stage("eval"), self.cfg.eval
        results = {}
        exs = self.test_examples()
        if not exs:
            raise ConfigError("no held-back examples to evaluate", "set test_limit / test_split in [[datasets]]")
        for variant in variants or e.variants:
            adapter = self.variant_adapter(variant)
            if adapter is not None and not (adapter / "adapter_config.json").is_file():
                results[variant] = {"skipped": f"no adapter at {adapter}"}
                continue
            stamp = None
            if adapter is not None:
                src = adapter / "adapter_model.safetensors"
                stamp = src.stat().st_mtime if src.is_file() else None
            # eval picks its input per variant: the adapter file's time is in its key
            chash = self._key(st, sorted(example_id(x) for x in exs), reads=[stamp])

            def run(out: dict, variant=variant, adapter=adapter, chash=chash) -> None:
                a, b = self._lms(adapter, e.max_tokens, e.backend)
                bar = self._bar(len(exs), f"eval {variant}")
                # per-example checkpoint, keyed by the stage's hash so a changed config never reuses old rows
                partial = self.out_dir(st.name) / f"{variant}.{chash[:12]}.partial.jsonl"
                if force and partial.is_file():
                    partial.unlink()
                res = evaluate_program(exs, planner_lm=a, step_lm=b, program_cfg=self.cfg.program, progress=bar,
                                       checkpoint=partial)
                bar.close()
                save_jsonl(res["rows"], self.out_dir(st.name) / f"{variant}.jsonl")
                partial.unlink(missing_ok=True)
                out.update(res["per_task"])
            results[variant] = self._stage(st, variant, chash, force, run)
        return results

    # ---------------------------------------------------------------------------------------------- all
    def run_stage(self, name: str, force: bool = False, **options: Any) -> dict:
        """One stage by name: a built-in stage's method (with its CLI ``options``), or a registered stage's
        function, run, skipped and recorded like a built-in one (its settings: its ``[stages.<name>]`` table)."""
        st = stage(name)
        if isinstance(st.run, str):
            return getattr(self, st.run)(force=force, **options)

        def run(out: dict) -> None:
            (folder := self.out_dir(st.name)).mkdir(parents=True, exist_ok=True)
            if not isinstance(figures := st.run(self, st.settings(self.cfg), folder), dict):
                raise ConfigError(f"stage {st.name!r} returned {type(figures).__name__}, not a dict",
                                  "return the stage's figures as a dict (they are recorded in state.json)")
            out.update(figures)
        return self._stage(st, None, self._key(st), force, run)

    def run(self, stages: list[str] | None = None, force: bool = False) -> dict:
        """The chosen stages (default: every stage its config enables) in run order."""
        order = pipeline_stages()
        chosen = list(stages or [s.name for s in order])
        unknown = [s for s in chosen if s not in {st.name for st in order}]
        if unknown:
            raise ConfigError(f"unknown stage(s) {unknown}", f"choose from: {', '.join(s.name for s in order)}")
        out = {}
        for st in order:
            if st.name not in chosen or (stages is None and st.enabled and not section(self.cfg, st.enabled)):
                continue
            out[st.name] = self.run_stage(st.name, force=force)
        return out


def run_pipeline(cfg: FinetuneConfig, **kwargs: Any) -> dict:
    """Run every stage of ``cfg`` (resuming finished ones); keyword arguments go to :class:`Pipeline`."""
    stages = kwargs.pop("stages", None)
    force = kwargs.pop("force", False)
    return Pipeline(cfg, **kwargs).run(stages, force=force)
