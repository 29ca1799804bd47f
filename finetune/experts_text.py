"""Programmatic experts for the tasks answered in words: log parsing, root-cause analysis, interpretation.

Each follows its task's method flowchart like :class:`~logreasoner.finetune.experts.AnomalyExpert` does, with
facts read off the line (the variable tokens the gold template replaces; the first severe line; the component
and level) and the source's *reference answer* as the final answer (the corrected template, the reference
cause or solution, the reference explanation). The findings quote the concrete lines.
"""

from __future__ import annotations

import re
from typing import Any

from logreasoner.finetune.expert_base import Expert, line_facts, message_of
from logreasoner.logs.excerpt import SEVERITY_RE
from logreasoner.programs.plan_text import clip

__all__ = ["ParseExpert", "RCAExpert", "InterpretExpert", "template_variables", "sentences"]

_WILD = "<*>"
_STATE = re.compile(r"\b(up|down|start(ed)?|stop(ped)?|open(ed)?|close[d]?|chang\w*|become[s]?|switch\w*)\b", re.I)
_INFRA = re.compile(r"\b(disk|network|power|hardware|memory|certificate|partition|dns|firewall|port)\b", re.I)


def _branch(step: str) -> str:
    """The branch a decided plan step took (``Decide: ...? -> yes`` gives ``yes``)."""
    return step.rsplit("->", 1)[1].strip() if "->" in step else ""


def template_variables(line: str, template: str) -> list[str] | None:
    """The values the template's ``<*>`` stand for in ``line`` (None when the template does not match)."""
    parts = [re.escape(p) for p in str(template).split(_WILD)]
    pattern = "^" + "(.*?)".join(re.sub(r"(\\ )+", r"\\s+", p) for p in parts) + "$"
    try:
        m = re.match(pattern, line.strip(), re.S)
    except re.error:
        return None
    return [g for g in m.groups()] if m else None


def sentences(text: str) -> list[str]:
    """Sentences of a reference text (list markers dropped)."""
    text = re.sub(r"\s+", " ", str(text or "")).strip()
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9`'\"(])|\s+(?=\d+\.\s)", text)
    return [re.sub(r"^\d+\.\s*", "", p).strip() for p in parts if p.strip()]


def _fit(text: str, n: int) -> str:
    """``text`` cut at the last sentence end before ``n`` characters (else at a word boundary)."""
    text = re.sub(r"\s+", " ", str(text or "")).strip()
    if len(text) <= n:
        return text
    cut = text[:n]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > n // 3 else clip(text, n)


class ParseExpert(Expert):
    """A line and its gold template: the variable tokens are what the template's wildcards replace."""

    name = "parse-template"
    task_name = "parse"

    def facts(self, excerpt, gold, labels, meta):
        lines = line_facts(excerpt)
        if not lines:
            raise ValueError("parse expert: empty line")
        n, text, _ = lines[0]
        template = str(gold or "").strip()
        if not template:
            raise ValueError("parse expert: no gold template")
        values = template_variables(text, template)
        if values is None:  # the template does not align with this rendering of the line: tokens it lacks
            kept = set(template.split())
            values = [t for t in text.split() if t not in kept]
        values = [v for v in values if v.strip()]
        constant = re.sub(r"\s+", " ", template.replace(_WILD, " ")).strip()
        return {"line": n, "text": text, "template": template, "values": values, "tokens": len(text.split()),
                "constant": constant}

    def decide(self, question, f):
        q = question.lower()
        if "variable tokens" in q:
            return "yes" if f["values"] else "no"
        if "share this skeleton" in q:
            return "yes"
        return None

    def finding(self, step, f):
        s = step.lower()
        vals = ", ".join(f"'{clip(v, 24)}'" for v in f["values"][:4])
        if s.startswith("conclude"):
            return clip(f["template"], 80), []
        if "header" in s:
            return f"content: '{clip(f['text'], 60)}'", []
        if "split the content" in s or "tokens on spaces" in s:
            return f"{f['tokens']} tokens", []
        if s.startswith("decide") and "variable" in s:
            return (f"yes: {vals}", []) if f["values"] else ("no: every token is constant", [])
        if "replace each" in s or s.startswith("action"):
            return f"{len(f['values'])} wildcards: {vals}" if f["values"] else "nothing to replace", []
        if "constant words" in s or "keep constant" in s:
            return f"kept: '{clip(f['constant'], 60)}'", []
        if s.startswith("decide"):
            return "yes: the skeleton holds", []
        return clip(f["template"], 80), []

    def answer(self, f):
        return {"template": f["template"]}


class _ReferenceExpert(Expert):
    """Shared facts of the free-text tasks: the lines, the first severe one, and the reference answer."""

    def facts(self, excerpt, gold, labels, meta):
        lines = line_facts(excerpt)
        if not lines:
            raise ValueError(f"{self.name}: empty log")
        ref = str(gold or "").strip()
        if not ref:
            raise ValueError(f"{self.name}: no reference answer")
        severe = [(n, t) for n, t, _ in lines if SEVERITY_RE.search(t)]
        n, text = severe[0] if severe else (lines[0][0], lines[0][1])
        return {"lines": lines, "severe": severe, "line": n, "text": text, "msg": message_of(text, 56),
                "reference": ref, "sentences": sentences(ref), "field": meta.get("answer_field"),
                "component": clip(re.split(r"[\s:\[]", text.strip())[0] or text, 30)}


class RCAExpert(_ReferenceExpert):
    """Root cause and remediation from a reference: the first severe line is the first error in time."""

    name = "rca-reference"
    task_name = "rca"

    def decide(self, question, f):
        q = question.lower()
        if "state its own reason" in q:
            return "yes" if f["severe"] else "no"
        if "consequence of an earlier" in q:
            return "yes" if len(f["severe"]) > 1 else "no"
        if "infrastructure or external" in q:
            return "yes" if _INFRA.search(f["reference"]) else "no"
        if "several hosts" in q:
            return "no"
        return None

    def finding(self, step, f):
        s = step.lower()
        n = f["line"]
        first = f["sentences"][0] if f["sentences"] else f["reference"]
        if s.startswith("conclude"):
            return clip(first, 80), [n]
        if "first error" in s:
            return f"L{n} '{f['msg']}'", [n]
        if "timeline" in s:
            later = [x for x, _ in f["severe"][1:3]]
            return (f"then {', '.join(f'L{x}' for x in later)}" if later else "one error, nothing earlier"), [n, *later]
        if s.startswith("decide"):
            ans = _branch(step)
            if "reason" in s:
                return (f"yes: L{n} '{f['msg']}'" if ans == "yes" else "no reason stated"), [n]
            if "earlier" in s or "consequence" in s:
                later = [x for x, _ in f["severe"][:2]]
                return (f"yes: {' then '.join(f'L{x}' for x in later)}" if ans == "yes" else
                        f"no: L{n} is the first error"), later or [n]
            return ans or "no", [n]
        return f"L{n} '{f['msg']}'", [n]

    def answer(self, f):
        sents = f["sentences"] or [f["reference"]]
        if f.get("field") == "remediation":  # a solution reference: its sentences are the steps
            steps = [_fit(x, 200) for x in sents][:6]
            return {"cause": _fit(sents[0], 400), "remediation": steps}
        return {"cause": _fit(f["reference"], 400), "remediation": []}


class InterpretExpert(_ReferenceExpert):
    """An explanation from a reference: component and fields first, then what the event means."""

    name = "interpret-reference"
    task_name = "interpret"

    def decide(self, question, f):
        q = question.lower()
        if "error, a state change or routine" in q:
            if f["severe"]:
                return "error"
            return "state change" if _STATE.search(f["text"]) else "routine"
        if "severity match" in q:
            return "yes"
        if "larger lifecycle" in q:
            return "no"
        return None

    def finding(self, step, f):
        s = step.lower()
        n = f["line"]
        if s.startswith("conclude"):
            return clip(f["sentences"][0] if f["sentences"] else f["reference"], 80), [n]
        if "identify the system" in s or "component" in s:
            return f"L{n} from '{f['component']}'", [n]
        if "decode the fields" in s:
            return f"event: '{f['msg']}'", [n]
        if s.startswith("decide"):
            return f"{_branch(step) or 'yes'}: L{n} '{clip(f['msg'], 40)}'", [n]
        if "what failed" in s:
            return f"L{n} '{f['msg']}'", [n]
        return f"L{n} '{f['msg']}'", [n]

    def answer(self, f):
        return {"explanation": _fit(f["reference"], 600)}
