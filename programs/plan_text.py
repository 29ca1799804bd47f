"""Plans as short text: a flowchart step in a few words, a thought template as a terse coarse plan, and the
retrieved expert plans rendered for a prompt (in full for capable models, condensed for small ones).
"""

from __future__ import annotations

import re

from logreasoner.contracts.answers import Plan
from logreasoner.contracts.retrieval import ExpertPlan

__all__ = ["clip", "shorten_step", "step_name", "plan_steps_of", "compact_plan", "render_plans_compact"]


def clip(text: str, n: int) -> str:
    """``text`` with runs of whitespace folded, cut at a word boundary to at most ``n`` characters."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    if len(text) <= n:
        return text
    cut = text[:n]
    if " " in cut[n // 2:]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-")


def step_name(plan_step: str) -> str:
    """How a worked step names the plan step it carries out: the step without its decision, in at most 32
    characters (the experts write their traces this way, so the student does too)."""
    return clip(str(plan_step).split(" -> ")[0], 32)


_RENDERED_STEP = re.compile(r"^\d+\. (.+)$")


def plan_steps_of(rendered: str) -> list[str]:
    """The numbered steps of a plan as :meth:`Plan.render` writes it (the lines after ``Steps:``)."""
    steps: list[str] = []
    after = False
    for line in str(rendered or "").splitlines():
        if line.strip() == "Steps:":
            after = True
            continue
        m = _RENDERED_STEP.match(line.strip()) if after else None
        if m:
            steps.append(m.group(1))
        elif after and line.strip():
            break
    return steps


def shorten_step(step: str, n: int = 90) -> str:
    """A flowchart step in a few words: ``Decide: <question>? -> <answer>`` keeps question and answer,
    ``Check: <what> - <details>`` keeps ``what``."""
    s = re.sub(r"\s+", " ", step).strip()
    m = re.match(r"^(Decide:\s*)(.*?)(\s*->\s*.+)$", s)
    if m:
        q = re.split(r"\s+-\s+|,\s+(?:such as|e\.g\.)", m.group(2))[0].rstrip("?").strip()
        return clip(f"{m.group(1)}{q}?", n - len(m.group(3))) + m.group(3)
    head = re.split(r"\s+-\s+|,\s+then\s+|;\s+|,\s+such as\s+", s)[0]
    return clip(head, n)


def compact_plan(plan: ExpertPlan | Plan, *, max_challenges: int = 1, step_chars: int = 60) -> Plan:
    """A thought template as a short coarse plan (the planner's output): symptom, decisions, steps."""
    overview = plan.problem_overview
    m = re.search(r"Symptom:\s*([^.]+)", overview)
    if m:
        overview = m.group(1).strip()
    overview = clip(overview[0].upper() + overview[1:] if overview else overview, 70)
    challenges = [clip(re.sub(r"\s*\(branches:.*?\)\s*$", "", c).split(" - ")[0].rstrip("?") + "?", 70)
                  if "(branches" in c else clip(c, 70) for c in plan.key_challenges[:max_challenges]]
    return Plan(problem_overview=overview, key_challenges=challenges,
                reasoning_steps=[shorten_step(s, step_chars) for s in plan.reasoning_steps])


def render_plans_compact(plans: list[ExpertPlan], *, k: int = 1, step_chars: int = 60, max_steps: int = 7) -> str:
    """The top ``k`` expert plans, each as its title and numbered short steps (decisions keep no answer: the
    model must make them on the lines)."""
    if not plans:
        return "(none)"
    out = []
    for p in plans[:k]:
        steps = []
        for s in p.reasoning_steps[:max_steps]:
            short = shorten_step(s, step_chars)
            steps.append(re.sub(r"\s*->\s*.+$", "", short) if short.startswith("Decide:") else short)
        title = clip(p.title or p.id, 70)
        out.append(f"{title}\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)))
    return "\n\n".join(out)
