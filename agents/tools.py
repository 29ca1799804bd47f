"""The tool surface: ``analyze_logs``, ``retrieve_expert_plan``, ``explain_line``, ``list_tasks``.

:class:`LogTools` holds what the tools share (the allowed folders, the read limits, the models it may use, the
expert-plan retriever) and turns each tool into a :class:`~logreasoner.agents.spec.ToolSpec`. The MCP server,
the ``dspy.Tool`` list and the OpenAI schemas are all made from :meth:`LogTools.specs`.

Log text always reaches the model inside the excerpt's ``BEGIN LOG DATA``/``END LOG DATA`` fence, with prompt
markers defused (:func:`logreasoner.logs.build_excerpt`); a question or a file path never goes inside the fence
and log text never goes outside it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable

from logreasoner.errors import InputError
from logreasoner.logs.excerpt import SEVERITY_RE, build_excerpt
from logreasoner.logs.reader import LogLine, read_lines
from logreasoner.logs.templates import TemplateGrouper
from logreasoner.programs.compiled import compiled_task
from logreasoner.programs.kinds import PROGRAM_KINDS
from logreasoner.programs.resolve import resolve_program
from logreasoner.run import excerpt_for, run_program
from logreasoner.tasks import get_task, list_tasks

from logreasoner.agents.models import (
    AnalyzeLogsInput,
    AnalyzeLogsResult,
    ExpertPlansResult,
    ExplainLineInput,
    ExplainLineResult,
    InputSummary,
    ListTasksInput,
    PlanRef,
    PlanSummary,
    RetrieveExpertPlanInput,
    TaskInfo,
    TaskListResult,
)
from logreasoner.agents.sandbox import ReadLimits, Sandbox
from logreasoner.agents.spec import ToolSpec

__all__ = ["LogTools", "TOOL_NAMES"]

TOOL_NAMES = ("analyze_logs", "retrieve_expert_plan", "explain_line", "list_tasks")


class LogTools:
    """The four tools over one configuration.

    Args:
        roots: folders whose files the tools may read (nothing is readable when empty).
        model: the default model spec (``"local"``, ``openai/gpt-4o-mini``, a GGUF path, ...).
        allowed_models: further specs a caller may name in a tool's ``model`` argument. Callers cannot load
            arbitrary specs: a spec can be a path on disk or a hosted model billed to the server's key.
        lm: a ready DSPy LM for the default model (e.g. ``dspy.utils.DummyLM`` in tests); loaded lazily if None.
        limits: byte/line limits for files and inline text.
        retriever: expert-plan retriever; default: the shared thought store.
        lm_loader: how a spec becomes an LM (default :func:`logreasoner.lm.load_lm`).
        compiled: programs compiled with a DSPy optimizer that callers may pick by name in ``analyze_logs``'s
            ``program`` argument: ``{name: path to the saved .json}`` (see ``programs.optimize.save_program``).
    """

    def __init__(
        self,
        roots: list[str | os.PathLike] | tuple = (),
        *,
        model: str = "local",
        allowed_models: list[str] | tuple = (),
        lm: Any = None,
        limits: ReadLimits | None = None,
        retriever: Any = None,
        lm_loader: Callable[[str], Any] | None = None,
        max_templates: int = 40,
        max_chars: int = 6000,
        compiled: dict[str, str | os.PathLike] | None = None,
    ) -> None:
        self.sandbox = Sandbox(roots, limits)
        self.compiled = {name: Path(p) for name, p in (compiled or {}).items()}
        for name, p in self.compiled.items():
            if name in PROGRAM_KINDS:
                raise InputError(f"compiled program name {name!r} hides the built-in program of that name",
                                 "give the compiled program another name")
            if not p.is_file():
                raise InputError(f"compiled program {name!r} not found: {p}", "check the path")
        self.limits = self.sandbox.limits
        self.model = model
        self.allowed_models = tuple(dict.fromkeys([model, *allowed_models]))
        self._lms: dict[str, Any] = {model: lm} if lm is not None else {}
        self._lm_lock = threading.Lock()
        self._retriever = retriever
        self._lm_loader = lm_loader
        self.max_templates, self.max_chars = max_templates, max_chars

    # -- shared pieces ----------------------------------------------------------------------------------------------
    @property
    def retriever(self) -> Any:
        if self._retriever is None:
            from logreasoner.contracts.retrieval import default_retriever

            self._retriever = default_retriever()
        return self._retriever

    def lm_for(self, spec: str | None) -> tuple[str, Any]:
        """(spec, LM) for a tool call; specs outside the allowed list are refused."""
        spec = spec or self.model
        if spec not in self.allowed_models:
            raise InputError(f"model {spec!r} is not allowed by this server",
                             f"leave 'model' empty or use one of: {', '.join(self.allowed_models)} "
                             "(the server's --model / --allow-model options set this list)")
        with self._lm_lock:
            lm = self._lms.get(spec)
            if lm is None:
                loader = self._lm_loader
                if loader is None:
                    from logreasoner.lm import load_lm as loader
                lm = self._lms[spec] = loader(spec)
        return spec, lm

    def _text_lines(self, text: str) -> list[LogLine]:
        if len(text.encode("utf-8", errors="replace")) > self.limits.max_bytes:
            raise InputError(f"the log text is larger than this server's limit ({self.limits.max_bytes} bytes)",
                             "send a smaller excerpt, or put the file under an allowed folder and pass 'path'")
        return read_lines(text=text, max_line_chars=self.limits.max_line_chars, max_lines=self.limits.max_lines)

    # -- the tools --------------------------------------------------------------------------------------------------
    def analyze_logs(self, args: AnalyzeLogsInput) -> AnalyzeLogsResult:
        task = get_task(args.task)
        task.answer_model(args.labels)  # fail early (and clearly) on a missing or empty label set
        truncated_by, bytes_read = None, 0
        if args.path is not None:
            read = self.sandbox.read(args.path, skip_blank=True)
            lines, source = read.lines, read.path
            truncated_by, bytes_read = read.truncated_by, read.bytes_read
            if not lines:
                raise InputError(f"{read.path} holds no log lines", "pass a file with at least one non-blank line")
        else:
            lines, source = self._text_lines(args.text or ""), "<text>"
            bytes_read = len((args.text or "").encode("utf-8", errors="replace"))
        spec, lm = self.lm_for(args.model)
        if args.program not in PROGRAM_KINDS and args.program not in self.compiled:
            raise InputError(f"unknown program {args.program!r}",
                             f"use one of: {', '.join([*PROGRAM_KINDS, *self.compiled])}")
        program = resolve_program(args.program, task, retriever=self.retriever, compiled=self.compiled)
        excerpt = excerpt_for(lines, task=task, lm=lm, max_templates=self.max_templates, max_chars=self.max_chars)
        result = run_program(program, lm, excerpt, task=task, question=args.question, labels=args.labels,
                             model_name=spec, program_name=args.program)
        pred = result.prediction
        return AnalyzeLogsResult(
            task=task.name, program=args.program, model=spec, answer=result.answer,
            primary=task.primary(pred.answer) if pred.answer is not None else None,
            evidence=result.evidence, invented_lines=result.invented_lines,
            plan=PlanSummary(**result.plan) if result.plan is not None else None,
            steps=list(getattr(pred, "steps", None) or []),
            expert_plans=[PlanRef(id=p.id, title=p.title, score=p.score)
                          for p in getattr(pred, "expert_plans", None) or []],
            input=InputSummary(source=source, lines=excerpt.total_lines, templates=excerpt.total_templates,
                               shown_templates=len(excerpt.shown), bytes_read=bytes_read, truncated_by=truncated_by),
            format_error=result.format_error, seconds=result.seconds,
        )

    def retrieve_expert_plan(self, args: RetrieveExpertPlanInput) -> ExpertPlansResult:
        task = get_task(args.task).name if args.task else None
        plans = self.retriever.retrieve(args.problem, task=task, k=args.k)
        return ExpertPlansResult(task=task, plans=list(plans))

    def explain_line(self, args: ExplainLineInput) -> ExplainLineResult:
        line = args.line.strip("\r\n")
        if "\n" in line:
            raise InputError("explain_line takes one line", "pass neighbouring lines in 'context', or use analyze_logs")
        grouper = TemplateGrouper()
        template = grouper.add(LogLine("<line>", 1, line)).template
        terms = list(dict.fromkeys(m.group(0).lower() for m in SEVERITY_RE.finditer(line)))
        context = self._text_lines(args.context)[:200] if args.context else []
        lines = [LogLine("<line>", i, ln.text) for i, ln in enumerate(context, 1)]
        target = len(lines) + 1
        lines.append(LogLine("<line>", target, line))
        spec, lm = self.lm_for(args.model)
        program = resolve_program("coarse_to_fine", "interpret", retriever=self.retriever)
        question = (f"Explain what line L{target} means for an engineer" +
                    (" (the other lines are context)." if context else "."))
        excerpt = build_excerpt(lines, group=False, max_templates=len(lines), max_chars=self.max_chars)
        result = run_program(program, lm, excerpt, task="interpret", question=question, model_name=spec)
        return ExplainLineResult(
            line=line, template=template, severity_terms=terms,
            explanation=result.answer.get("explanation") if result.answer is not None else None,
            model=spec, format_error=result.format_error, seconds=result.seconds,
        )

    def list_tasks(self, args: ListTasksInput | None = None) -> TaskListResult:
        return TaskListResult(tasks=[
            TaskInfo(name=t.name, description=t.description, aliases=list(t.aliases), primary_field=t.primary_field,
                     needs_labels=t.needs_labels, labels=list(t.labels) if t.labels else None,
                     input_kind=t.input_kind, answer_schema=t.answer_type.model_json_schema())
            for t in list_tasks()
        ], programs=[*PROGRAM_KINDS, *(f"{name} (compiled for {self._compiled_task(name)})" for name in self.compiled)])

    def _compiled_task(self, name: str) -> str:
        return compiled_task(self.compiled[name]) or "any task"

    # -- the definitions every face is built from -------------------------------------------------------------------
    def specs(self) -> list[ToolSpec]:
        roots = ", ".join(str(r) for r in self.sandbox.roots) or "none (text only)"
        return [
            ToolSpec(
                "analyze_logs",
                "Analyse log lines coarse-to-fine (expert plan -> steps on the lines -> typed answer) for one task: "
                "anomaly, diagnosis (give labels), rca, parse or interpret. Pass raw log 'text' or a file 'path' "
                f"under the allowed folders ({roots}). Returns the typed answer, the plan and steps, and the real "
                "log lines cited as evidence.",
                AnalyzeLogsInput, AnalyzeLogsResult, self.analyze_logs, reads_files=True, uses_model=True),
            ToolSpec(
                "retrieve_expert_plan",
                "Retrieve expert thought templates (problem overview, key challenges, reasoning steps) for a "
                "problem description or a few log lines, optionally for one task. No model call.",
                RetrieveExpertPlanInput, ExpertPlansResult, self.retrieve_expert_plan),
            ToolSpec(
                "explain_line",
                "Explain one log line: its template (variables masked), the severity words it contains, and what "
                "it means for an engineer.",
                ExplainLineInput, ExplainLineResult, self.explain_line, uses_model=True),
            ToolSpec(
                "list_tasks",
                "List the reasoning tasks (name, description, label requirements, answer schema).",
                ListTasksInput, TaskListResult, self.list_tasks),
        ]

    def spec(self, name: str) -> ToolSpec:
        for s in self.specs():
            if s.name == name:
                return s
        raise InputError(f"unknown tool {name!r}", f"choose one of: {', '.join(TOOL_NAMES)}")
