"""Rich terminal rendering of an analysis result: plan, steps with evidence lines, answer.

Everything shown comes from a log or a model, so none of it is trusted: it is put on screen as plain
:class:`rich.text.Text` (no markup, no emoji codes, no hyperlinks) after terminal escape sequences and control
characters are removed (:func:`terminal_safe`). A model that answers ``[/]`` or ``[link=...]`` or a log line
holding ``ESC[2J`` or an OSC title is shown as harmless text.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from logreasoner.analysis import AnalysisResult
from logreasoner.logs.excerpt import strip_controls

__all__ = ["render_result", "terminal_safe", "safe_markup"]


def terminal_safe(value: Any, *, keep_newlines: bool = True) -> str:
    """``value`` as text with escape sequences and control characters removed (tabs and newlines kept)."""
    return strip_controls(str(value), keep_newlines=keep_newlines)


def safe_markup(value: Any) -> str:
    """``value`` cleaned for the terminal and escaped for inclusion in a rich markup string."""
    return escape(terminal_safe(value))


def _t(value: Any, style: str = "", *, one_line: bool = False) -> Text:
    return Text(terminal_safe(value, keep_newlines=not one_line), style=style)


def _value(v: Any) -> Text:
    """An answer field: lists one item a line, everything else as text (cleaned either way)."""
    if isinstance(v, (list, tuple)):
        if not v:
            return Text("[]")
        return Text("\n").join([Text(""), *[Text("  • ") + _t(x) for x in v]])
    return _t(v)


def _label(name: str, value: Any) -> Text:
    return Text.assemble((name, "bold"), " ", _t(value, one_line=True))


def render_result(r: AnalysisResult, console: Console) -> None:
    s = r.input_stats
    console.print(Text("   ").join([
        _label("task", r.task), _label("model", r.model), _label("program", r.program),
        _t(f"{s.get('lines', 0)} lines, {s.get('templates', 0)} templates ({r.seconds:.1f}s)", one_line=True),
    ]))
    if r.expert_plans:
        console.print(_label("expert plans", ", ".join(r.expert_plans)))
    if r.plan:
        body: list[Text] = [_label("Overview:", r.plan.get("problem_overview", ""))]
        if r.plan.get("key_challenges"):
            body.append(Text("Key challenges:", style="bold"))
            body += [Text("  • ") + _t(c) for c in r.plan["key_challenges"]]
        body.append(Text("Steps:", style="bold"))
        body += [Text(f"  {i}. ") + _t(st) for i, st in enumerate(r.plan.get("reasoning_steps", []), 1)]
        console.print(Panel(Group(*body), title="Coarse plan", expand=False))
    if r.steps:
        t = Table(title="Steps on the lines", show_lines=True)
        t.add_column("#", justify="right")
        t.add_column("step")
        t.add_column("finding")
        t.add_column("evidence")
        for i, st in enumerate(r.steps, 1):
            t.add_row(str(i), _t(st.get("step", "")), _t(st.get("finding", "")),
                      _t(", ".join(f"L{n}" for n in st.get("evidence_lines", []))))
        console.print(t)
    if r.evidence:
        console.print(Text("Evidence lines", style="bold"))
        for e in r.evidence[:12]:
            console.print(_t(f"  {e.source}:{e.line}  {terminal_safe(e.text, keep_newlines=False)[:160]}",
                             one_line=True), highlight=False)
    if r.invented_lines:
        console.print(_t(f"cited lines not in the excerpt (dropped): {r.invented_lines}", "yellow"))
    if r.answer is not None:
        rows = [Text.assemble((terminal_safe(k, keep_newlines=False), "bold"), ": ", _value(v))
                for k, v in r.answer.items()]
        console.print(Panel(Group(*rows), title="Answer", border_style="green", expand=False))
    else:
        body_text = _t(f"{r.format_error}\n\nraw model output:\n{(r.raw or '')[:1500]}")
        console.print(Panel(body_text, title="No answer: the model's output could not be parsed", border_style="red"))
