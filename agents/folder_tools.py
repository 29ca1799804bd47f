"""The investigator's tools over one folder: list, read a window, grep, summarise templates, expert plans, reason.

Every tool is confined to the folder (:class:`~logreasoner.agents.sandbox.Sandbox`), bounded in what it reads
and in what it returns (observations are capped so a small model's context holds several steps), and returns
text for the agent's trajectory. Log text in an observation sits inside a ``BEGIN LOG DATA``/``END LOG DATA``
fence with prompt markers defused, exactly like the reasoner's excerpts. Lines are shown as ``path:number text``,
the form the agent must cite; every line shown is remembered, so cited evidence can be checked afterwards.
"""

from __future__ import annotations

import inspect
import time
from collections import Counter
from typing import Any, Callable

from logreasoner.errors import InputError
from logreasoner.logs.excerpt import BEGIN, END, SEVERITY_RE, sanitize_log_text
from logreasoner.programs.resolve import resolve_program
from logreasoner.run import excerpt_for, run_program
from logreasoner.logs.reader import LogLine
from logreasoner.logs.templates import TemplateGrouper

from logreasoner.agents.sandbox import FileRead, Sandbox

__all__ = ["FolderTools", "fence"]

MAX_WINDOW = 80
MAX_HITS = 50
MAX_PATTERN = 300
LINE_REGEX_SECONDS = 0.1  # no sane pattern needs this long on one (bounded) line


def _skipped_note(skipped: list[str]) -> str:
    if not skipped:
        return ""
    more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    return f"(skipped {len(skipped)} unreadable file(s): {'; '.join(s[:160] for s in skipped[:5])}{more})"


def fence(rows: list[str], head: str | None = None) -> str:
    """Log-derived rows inside the data fence (rows must already be sanitised)."""
    return "\n".join([BEGIN, *([f"({head})"] if head else []), *rows, END])


class FolderTools:
    """Tools bound to one folder. ``lm`` runs the reasoner tool (None: the LM in the current dspy context).

    ``deadline`` (a ``time.monotonic()`` value) makes the slow tools refuse when too little time is left.
    """

    def __init__(self, sandbox: Sandbox, *, retriever: Any = None, lm: Any = None, obs_chars: int = 1800,
                 line_chars: int = 220, grep_seconds: float = 3.0, reasoner_seconds: float = 20.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sandbox = sandbox
        self._retriever = retriever
        self.lm = lm
        self.obs_chars, self.line_chars = obs_chars, line_chars
        self.grep_seconds, self.reasoner_seconds = grep_seconds, reasoner_seconds
        self.clock = clock
        self.deadline: float | None = None
        self.seen: set[tuple[str, int]] = set()
        self.last_analysis: dict | None = None

    # -- helpers ----------------------------------------------------------------------------------------------------
    def _row(self, line: LogLine) -> str:
        self.seen.add((line.source, line.number))
        text = line.text if len(line.text) <= self.line_chars else line.text[: self.line_chars] + " …"
        return f"{line.source}:{line.number} {sanitize_log_text(text)}"

    def _cap(self, text: str) -> str:
        if len(text) <= self.obs_chars:
            return text
        cut = text[: self.obs_chars]
        cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
        if BEGIN in cut and END not in cut:
            cut += "\n" + END
        return cut + "\n(output shortened)"

    def _files(self, path: str) -> list[str]:
        files, _, _ = self.sandbox.list_files(path)
        if not files:
            raise InputError(f"no files under {path}", "list the folder to see which files exist")
        return [f.path for f in files]

    def _time_left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - self.clock()

    @property
    def retriever(self) -> Any:
        if self._retriever is None:
            from logreasoner.contracts.retrieval import default_retriever

            self._retriever = default_retriever()
        return self._retriever

    # -- the tools (their docstrings are what the agent reads) -------------------------------------------------------
    def list_files(self, folder: str = ".") -> str:
        """List the log files in the folder (or a sub-folder): path and size in bytes."""
        files, skipped, truncated = self.sandbox.list_files(folder)
        rows = [f"{f.path} ({f.size} bytes)" for f in files]
        if skipped:
            rows.append(f"({skipped} entries skipped: links leading outside the folder)")
        if truncated:
            rows.append("(listing shortened)")
        return self._cap("\n".join(rows) or "(no files)")

    def read_window(self, path: str, start: int = 1, count: int = 40) -> str:
        """Read `count` lines (at most 80) of one file, from line number `start`. Shows path:number text."""
        count = max(1, min(int(count or 40), MAX_WINDOW))
        r = self.sandbox.read(path, start=max(1, int(start or 1)), count=count)
        if not r.lines:
            return f"{r.path} has no line {start} (it has {r.lines_read} lines)"
        head = f"{r.path} lines {r.lines[0].number}-{r.lines[-1].number}" + ("; more follow" if r.more else "")
        return self._cap(fence([self._row(ln) for ln in r.lines], head))

    def grep(self, pattern: str, path: str = ".", max_hits: int = 20) -> str:
        """Search files for a regular expression (case-insensitive): matching lines as path:number text, match
        counts per file, and with a (group) the most common group values, e.g. 'Failed password for (\\S+)'."""
        import regex

        pattern = str(pattern or "")
        if not pattern or len(pattern) > MAX_PATTERN:
            raise InputError("the pattern is empty or too long", f"use a regular expression of 1-{MAX_PATTERN} chars")
        note = ""
        try:
            rx = regex.compile(pattern, regex.IGNORECASE)
        except regex.error:
            rx = regex.compile(regex.escape(pattern), regex.IGNORECASE)
            note = "(not a valid regular expression: searched for the literal text)\n"
        max_hits = max(1, min(int(max_hits or 20), MAX_HITS))
        stop_at = self.clock() + self.grep_seconds
        hits: list[str] = []
        per_file: Counter[str] = Counter()
        values: Counter[str] = Counter()
        stopped = ""
        skipped: list[str] = []
        for file in self._files(path):
            res = FileRead(file, self.sandbox.roots[0])
            try:
                for line in self.sandbox.iter_file(file, res):
                    left = stop_at - self.clock()
                    if left <= 0:
                        stopped = "(search stopped: time limit; counts are partial)"
                        break
                    try:  # the regex module checks its timeout only now and then: keep each line's share small
                        m = rx.search(line.text, timeout=min(left, LINE_REGEX_SECONDS))
                    except TimeoutError:
                        stopped = "(search stopped: the pattern is too slow; counts are partial)"
                        break
                    if m is None:
                        continue
                    per_file[res.path] += 1
                    if rx.groups and m.group(1) is not None:
                        values[m.group(1)] += 1
                    if len(hits) < max_hits:
                        hits.append(self._row(line))
            except InputError as e:  # one unreadable file (a corrupt .gz, a binary) must not fail the search
                skipped.append(f"{sanitize_log_text(file)}: {sanitize_log_text(e.message)}")
                continue
            if res.truncated_by:
                stopped = stopped or f"({res.path}: read limit reached; counts cover the part read)"
            if stopped.startswith("(search stopped"):
                break
        skip_note = _skipped_note(skipped)
        if not per_file:
            return note + f"no line matches {pattern!r}" + (f" {stopped}" if stopped else "") + \
                (f"\n{skip_note}" if skip_note else "")
        counts = ", ".join(f"{f}: {n}" for f, n in per_file.most_common())
        out = [note + f"{sum(per_file.values())} matching lines ({counts})"]
        if skip_note:
            out.append(skip_note)
        if values:
            top = ", ".join(f"{sanitize_log_text(v)[:80]} x{n}" for v, n in values.most_common(10))
            out.append(f"most common values of the group: {top}")
        if stopped:
            out.append(stopped)
        out.append(fence(hits, f"first {len(hits)} matches"))
        return self._cap("\n".join(out))

    def template_summary(self, path: str = ".") -> str:
        """Group the lines of one file (or all files) by template (Drain3): how many lines, the most frequent
        templates, and the rare or severe ones, each with an example path:number."""
        grouper = TemplateGrouper(keep_numbers=1)
        total = 0
        skipped: list[str] = []
        for file in self._files(path):
            try:
                for line in self.sandbox.iter_file(file):
                    grouper.add(line)
                    total += 1
            except InputError as e:  # a corrupt .gz or a binary file: summarise the others, say which was skipped
                skipped.append(f"{sanitize_log_text(file)}: {sanitize_log_text(e.message)}")
        groups = grouper.result()
        frequent = sorted(groups, key=lambda g: -g.count)[:6]
        severe = [g for g in groups if SEVERITY_RE.search(g.template) and g not in frequent]
        rare = sorted(severe, key=lambda g: g.count)[:10]
        rows = [f"[x{g.count}] {sanitize_log_text(g.template)[: self.line_chars]} (e.g. {g.first.source}:"
                f"{g.first.number})" for g in [*frequent, *rare]]
        for g in [*frequent, *rare]:
            self.seen.add((g.first.source, g.first.number))
        head = f"{total} lines, {len(groups)} templates; most frequent first, then rare severe ones"
        skip_note = _skipped_note(skipped)
        return self._cap((skip_note + "\n" if skip_note else "") + fence(rows, head))

    def expert_plans(self, problem: str, task: str = "rca") -> str:
        """How an expert approaches this kind of problem: retrieved thought templates (overview and steps)."""
        from logreasoner.tasks import get_task

        t = get_task(task).name if task else None
        plans = self.retriever.retrieve(str(problem or "")[:4000], task=t, k=2)
        if not plans:
            return "(no expert plan found)"
        return self._cap("\n\n".join(p.render() for p in plans))

    def analyze(self, path: str, question: str = "", start: int = 1, count: int = 0, task: str = "rca") -> str:
        """Run the coarse-to-fine log reasoner on one file (or `count` lines from `start`) for a task (rca,
        anomaly, interpret); returns its answer and the evidence lines as path:number text."""
        from logreasoner.tasks import get_task

        if self._time_left() < self.reasoner_seconds:
            return "not enough time left to run the reasoner; answer with what you have"
        t = get_task(task or "rca")
        if t.needs_labels:
            raise InputError(f"task {t.name} needs a label set", "use rca, anomaly or interpret here")
        r = self.sandbox.read(path, start=max(1, int(start or 1)), count=int(count) if count else None,
                              skip_blank=True)
        if not r.lines:
            raise InputError(f"{r.path} has no lines there", "check the file and the line range")
        excerpt = excerpt_for(r.lines, task=t, lm=self.lm, max_templates=30, max_chars=4000)
        program = resolve_program("coarse_to_fine", t, retriever=self.retriever)
        result = run_program(program, self.lm, excerpt, task=t, question=str(question or ""))
        pred = result.prediction
        answer = pred.answer
        self.last_analysis = {
            "task": t.name,
            "answer": result.answer,
            "primary": t.primary(answer) if answer is not None else None,
            "evidence": [(ln.source, ln.line) for ln in result.evidence],
            "steps": result.steps,
        }
        if answer is None:
            return f"the reasoner's output could not be parsed ({pred.format_error}); try another tool"
        fields = "; ".join(f"{k}: {v}" for k, v in answer.model_dump(mode="json").items()
                           if k != "evidence_lines")
        rows = [self._row(ln) for ln in pred.evidence or []]
        out = f"reasoner answer ({t.name}) — {sanitize_log_text(fields)[:600]}"
        return self._cap(out + ("\n" + fence(rows, "evidence lines") if rows else "\n(no evidence lines cited)"))

    def as_list(self) -> list[Any]:
        """The tools as ``dspy.Tool`` objects (descriptions on one line: every step's prompt lists them)."""
        import dspy

        fns = [self.list_files, self.read_window, self.grep, self.template_summary, self.expert_plans, self.analyze]
        return [dspy.Tool(f, desc=" ".join(inspect.cleandoc(f.__doc__ or "").split())) for f in fns]
