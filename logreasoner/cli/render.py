"""Rich terminal rendering of an analysis result: plan, steps with evidence lines, answer."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from logreasoner.analysis import AnalysisResult

__all__ = ["render_result"]


def render_result(r: AnalysisResult, console: Console) -> None:
    s = r.input_stats
    console.print(f"[bold]task[/] {r.task}   [bold]model[/] {r.model}   [bold]program[/] {r.program}   "
                  f"{s.get('lines', 0)} lines, {s.get('templates', 0)} templates ({r.seconds:.1f}s)")
    if r.expert_plans:
        console.print(f"[bold]expert plans[/] {', '.join(r.expert_plans)}")
    if r.plan:
        body = [f"[bold]Overview:[/] {r.plan.get('problem_overview', '')}"]
        if r.plan.get("key_challenges"):
            body.append("[bold]Key challenges:[/]")
            body += [f"  • {c}" for c in r.plan["key_challenges"]]
        body.append("[bold]Steps:[/]")
        body += [f"  {i}. {st}" for i, st in enumerate(r.plan.get("reasoning_steps", []), 1)]
        console.print(Panel("\n".join(body), title="Coarse plan", expand=False))
    if r.steps:
        t = Table(title="Steps on the lines", show_lines=True)
        t.add_column("#", justify="right")
        t.add_column("step")
        t.add_column("finding")
        t.add_column("evidence")
        for i, st in enumerate(r.steps, 1):
            t.add_row(str(i), st.get("step", ""), st.get("finding", ""),
                      ", ".join(f"L{n}" for n in st.get("evidence_lines", [])))
        console.print(t)
    if r.evidence:
        console.print("[bold]Evidence lines[/]")
        for e in r.evidence[:12]:
            console.print(f"  {e.source}:{e.line}  {e.text[:160]}", markup=False, highlight=False)
    if r.invented_lines:
        console.print(f"[yellow]cited lines not in the excerpt (dropped): {r.invented_lines}[/]")
    if r.answer is not None:
        body = "\n".join(f"[bold]{k}[/]: {v}" for k, v in r.answer.items())
        console.print(Panel(body, title="Answer", border_style="green", expand=False))
    else:
        console.print(Panel(f"{r.format_error}\n\nraw model output:\n{(r.raw or '')[:1500]}",
                            title="No answer: the model's output could not be parsed", border_style="red"))
