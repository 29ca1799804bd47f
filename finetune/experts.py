"""Programmatic experts: teachers that write stepwise solutions from labelled, structured data.

An expert executes the task's *method flowchart* from the thought store on one labelled example: it answers
each decision of the flowchart from facts it reads off the log (severity words, the label words an entry
shares) and from the gold label, picks the flowchart path (thought template) those answers take, and writes
one finding per step with the concrete line numbers, words and values. Where the thought store is not
available it follows the task's built-in method plan the same way.

Each task names its expert (``Task.expert``; :func:`~logreasoner.finetune.expert_base.get_expert` loads it).
Experts ship for every built-in task: anomaly detection (normal/abnormal) and fault diagnosis (one label of a
set) here; parsing, root-cause analysis and interpretation (reference answers) in
:mod:`logreasoner.finetune.experts_text`. Their traces are marked ``source="expert:<name>"``.
"""

from __future__ import annotations

import re

from logreasoner.finetune.expert_base import (
    Expert,
    ExpertSolution,
    get_expert,
    line_facts,
    message_of,
    method_plans,
)
from logreasoner.logs.excerpt import SEVERITY_RE
from logreasoner.programs.plan_text import clip, compact_plan, shorten_step

_clip = clip

__all__ = [
    "Expert",
    "ExpertSolution",
    "AnomalyExpert",
    "DiagnosisExpert",
    "get_expert",
    "method_plans",
    "shorten_step",
    "compact_plan",
    "message_of",
]

_STOP = frozenset(
    "the and for with from into that this was were are has have had not but its can all any our one two "
    "out per via more than then when which type types log logs entry".split()
)
_CATCH_ALL = re.compile(r"\b(unknown|other|others|unspecified|not specify|does not specify|misc)\b", re.I)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z0-9]{2,}", text.lower()) if w not in _STOP}


class AnomalyExpert(Expert):
    """Normal/abnormal from a labelled verdict: severity words found per line, the flowchart's signature,
    benign-signature, rarity and explained-deviation decisions answered from them and the gold verdict."""

    name = "anomaly-rules"
    task_name = "anomaly"

    def facts(self, excerpt, gold, labels, meta):
        lines = line_facts(excerpt)
        hits = []
        for n, text, _ in lines:
            words = sorted({m.group(0).lower() for m in SEVERITY_RE.finditer(text)})
            if words:
                hits.append((n, words))
        verdict = str(gold).strip().lower()
        if verdict not in ("normal", "abnormal"):
            raise ValueError(f"anomaly expert: gold verdict must be normal/abnormal, got {gold!r}")
        abnormal = verdict == "abnormal"
        shown = {n for n, _, _ in lines}
        labelled = [n for n in (meta.get("abnormal_lines") or []) if n in shown]
        if abnormal and labelled:  # per-line labels (a window of labelled lines): cite exactly those
            evidence = labelled
        else:
            evidence = [n for n, _ in hits] if (abnormal and hits) else ([lines[0][0]] if abnormal and lines else [])
        msgs = {n: message_of(text) for n, text, _ in lines}
        focus = evidence if abnormal else [n for n, _ in hits]
        quote = ", ".join(f"L{n} '{msgs[n]}'" for n in focus[:2] if n in msgs)
        return {"lines": lines, "hits": hits, "abnormal": abnormal, "evidence": evidence, "quote": quote,
                "system": meta.get("system"), "total": excerpt.total_lines, "templates": excerpt.total_templates}

    def decide(self, question, f):
        q = question.lower()
        if "benign" in q:
            return "no" if f["abnormal"] else "yes"
        if "failure signature" in q or "fatal" in q:
            return "yes" if f["hits"] else "no"
        if "explained" in q:
            return "no" if f["abnormal"] else "yes"
        if "lifecycle" in q or "rare template" in q or "count far above" in q:
            return "yes" if f["abnormal"] else "no"
        return None

    def _first(self, f) -> tuple[int, str]:
        n, text, _ = f["lines"][0] if f["lines"] else (1, "", 1)
        return n, text

    def finding(self, step, f):
        s = step.lower()
        n, text = self._first(f)
        kw = ", ".join(f"'{w}' (L{ln})" for ln, ws in f["hits"][:3] for w in ws[:2])
        if s.startswith("conclude") or "decide normal or abnormal" in s:
            if f["abnormal"]:
                ev = ", ".join(f"L{x}" for x in f["evidence"])
                return f"abnormal: {ev} signal a fault" if len(f["evidence"]) > 1 else f"abnormal: {ev} signals a fault", f["evidence"]
            return "normal: the lines report routine operation", []
        if s.startswith("decide"):
            ans = self.decide(step, f) or ""
            if "benign" in s:
                if ans == "yes":
                    return f"yes: {f['quote'] or kw} is routine here, not a fault", [ln for ln, _ in f["hits"]][:6]
                return f"no: {f['quote'] or kw} is a real failure", f["evidence"][:6]
            if "failure signature" in s or "fatal" in s:
                if ans == "yes":
                    return f"yes: {f['quote'] or kw}", (f["evidence"] or [ln for ln, _ in f["hits"]])[:6]
                return "no: no fatal, error, failure, timeout or exception word in the lines", []
            if "explained" in s:
                return ("yes: routine operation explains it", []) if ans == "yes" else \
                    ("no: no routine operation explains it", f["evidence"])
            if "lifecycle" in s or "rare" in s:
                if ans == "yes":
                    return f"yes: {f['quote'] or f'L{n}'} reports a fault condition", f["evidence"][:6]
                return f"no: L{n} is part of the normal background", []
        if "fatal" in s or "error" in s or "failure word" in s or "severity" in s:
            return (f"severity words: {kw}", [ln for ln, _ in f["hits"]]) if f["hits"] else \
                ("no fatal, error or failure word in the lines", [])
        if "sequence" in s or "frequency" in s or "rare" in s or "state" in s:
            if f["templates"] <= 1:
                return f"one template (x{f['lines'][0][2] if f['lines'] else 1}); no lifecycle to follow", [n]
            rare = [ln for ln, _, c in f["lines"] if c == 1][:4]
            return f"{f['templates']} templates; rare (x1): {', '.join(f'L{x}' for x in rare) or 'none'}", rare
        if "template" in s or "identify the system" in s or "group" in s:
            sysname = f"{f['system']} " if f.get("system") else ""
            if f["total"] <= 1:
                return f"L{n}: one {sysname}message", [n]
            return f"{f['total']} {sysname}lines in {f['templates']} templates", [x for x, _, _ in f["lines"][:3]]
        return f"L{n}: '{_clip(text, 80)}'", [n]

    def answer(self, f):
        return {"verdict": "abnormal" if f["abnormal"] else "normal", "evidence_lines": f["evidence"][:8]}


class DiagnosisExpert(Expert):
    """One label of a set from a labelled entry: the entry's source and event, the words it shares with each
    label, and the flowchart's match-count, finer-evidence and catch-all decisions answered from them."""

    name = "diagnosis-rules"
    task_name = "diagnosis"

    def facts(self, excerpt, gold, labels, meta):
        if not labels:
            raise ValueError("diagnosis expert: the example has no label set")
        gold = str(gold).strip()
        labels = list(dict.fromkeys(str(x).strip() for x in labels if str(x).strip()))
        lines = line_facts(excerpt)
        text = " ".join(t for _, t, _ in lines)
        entry = _words(text)
        overlap = {lab: sorted(entry & _words(lab)) for lab in labels}
        matching = [lab for lab in labels if overlap[lab]]
        top = max((len(v) for v in overlap.values()), default=0)
        tops = [lab for lab in labels if overlap[lab] and len(overlap[lab]) == top]
        n, first = (lines[0][0], lines[0][1]) if lines else (1, "")
        parts = [p.strip() for p in re.split(r"\s*\|\s*|:\s+", first) if p.strip()]
        source = parts[0] if parts else first
        event = parts[1] if len(parts) > 1 else ""
        source, event = _clip(source, 30), _clip(event, 30)
        keywords = sorted(entry, key=lambda w: (-len(w), w))[:4]
        return {"gold": gold, "labels": labels, "overlap": overlap, "matching": matching, "tops": tops,
                "line": n, "source": _clip(source, 50), "event": _clip(event, 60), "keywords": keywords,
                "catch_all": bool(_CATCH_ALL.search(gold))}

    def decide(self, question, f):
        q = question.lower()
        if "how many labels" in q:
            if len(f["matching"]) == 1 and f["matching"][0] == f["gold"]:
                return "exactly one"
            if f["matching"]:
                return "several"
            return "none"
        if "single out" in q or "finer evidence" in q:
            return "yes" if f["tops"] == [f["gold"]] else "no"
        if "catch-all" in q:
            return "yes" if f["catch_all"] else "no"
        return None

    def finding(self, step, f):
        s = step.lower()
        n = f["line"]
        gold = f["gold"]
        if s.startswith("conclude") or "pick" in s or "single best" in s:
            return f"'{gold}'", [n]
        if s.startswith("decide"):
            ans = self.decide(step, f) or ""
            if "how many labels" in s:
                if ans == "exactly one":
                    return f"exactly one: '{gold}' shares {', '.join(f['overlap'][gold][:3])}", [n]
                if ans == "several":
                    return "several: " + "; ".join(f"'{_clip(lab, 30)}' ({', '.join(f['overlap'][lab][:2])})"
                                                   for lab in f["matching"][:3]), [n]
                return "none: no label shares a word with the entry", [n]
            if "single out" in s or "finer evidence" in s:
                if ans == "yes":
                    return f"yes: {', '.join(f['overlap'][gold][:3])} points to '{gold}'", [n]
                return f"no: the words fit no label directly; this kind of entry goes with '{gold}'", [n]
            if "catch-all" in s:
                return (f"yes: '{gold}'", [n]) if ans == "yes" else ("no catch-all label fits", [n])
        if "label" in s and ("read" in s or "every" in s or "compare" in s):
            if "compare" in s:
                shared = f["overlap"].get(gold) or []
                return (f"'{gold}' shares {', '.join(shared[:3])}" if shared else
                        f"no shared words; entries like L{n} go with '{gold}'"), [n]
            return f"{len(f['labels'])} labels to compare with the entry", []
        if "source" in s or "component" in s or "event" in s:
            ev = f", event '{f['event']}'" if f["event"] else ""
            return f"L{n}: source '{f['source']}'{ev}", [n]
        if "finer" in s or "keyword" in s or "telltale" in s:
            return f"telltale words in L{n}: {', '.join(f['keywords']) or 'none'}", [n]
        return f"L{n}: '{f['source']}'", [n]

    def answer(self, f):
        return {"label": f["gold"]}
