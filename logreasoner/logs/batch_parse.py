"""Batch log parsing the way LILAC and LogBatcher do it: group first, ask once per group, check, cache.

1. Lines that fit a template cached by an earlier run (same system) take it: no grouping, no model call. (A run
   with a model leaves out the Drain templates cached by runs without one: it asks about those lines.)
2. The other lines are grouped by Drain3 (per-system masks, threshold and depth from the settings); a group is
   the lines of one Drain template.
3. Largest group first, the group's lines that fit a template the model wrote earlier in this run take it
   (token-aligned fits only: this is how two Drain groups end up under one model template).
   For the rest, the *templater* (the parse program on a model, or any callable) gets a few diverse lines of the
   group and answers one template.
4. The template is checked against every line of the group: each must fit it as a pattern with ``<*>``
   wildcards (:mod:`logreasoner.logs.template_match`), and it must keep at least ``min_kept_tokens`` of the
   constant tokens of Drain's template (a template of wildcards fits everything and says nothing) — all of them
   when one of its wildcards spans tokens (its token count differs from Drain's). A template
   that fits every line is taken. One that does not, but has as many tokens as Drain's, is *reconciled* with
   Drain's token by token (a token either marks variable becomes the variable one; two different constants keep
   Drain's, which saw every line; at least half of Drain's constant tokens must be in the answer, in place) and
   checked again — so a weak model that echoes a line still adds the variables it did mark. With
   ``on_mismatch="split"`` an answer with a variable that fits some of the lines is not reconciled: those lines
   take it and the others are asked about again (up to ``max_rounds`` asks per group). What is left takes
   Drain's template.
5. The templates taken are added to the cache (:class:`~logreasoner.logs.template_store.TemplateStore`).

Without a templater the parser is Drain3 plus the cache: every group takes Drain's template.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from logreasoner.errors import ConfigError, InputError
from logreasoner.logs.drain_settings import LOGPAI_DRAIN_SETTINGS, DrainSettings, check_regexes, make_template_miner
from logreasoner.logs.template_match import TemplateIndex, compile_template, literal_chars
from logreasoner.logs.template_store import TemplateStore

__all__ = ["BatchParseSettings", "Templater", "BatchParser", "ParseResult", "ParseStats", "diverse_sample",
           "clean_template", "reconcile", "keeps_enough"]

Templater = Callable[[Sequence[str]], "str | None"]
"""``templater(lines) -> template | None``: one template for lines of one group (None: no answer)."""

# Unknown systems: IPv4 addresses (with port) and hex numbers are masked; Drain turns other varying tokens to <*>.
_DEFAULT_MASKS = (r"(\d+\.){3}\d+(:\d+)?", r"\b0[xX][0-9a-fA-F]+\b")


class BatchParseSettings(BaseModel):
    """How lines are grouped, how many are shown per ask, and when a model's template is taken."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drain_regex: tuple[str, ...] = Field(_DEFAULT_MASKS, description="regexes masked to <*> before Drain groups")
    drain_st: float = Field(0.5, gt=0.0, le=1.0, description="Drain's similarity threshold")
    drain_depth: int = Field(4, ge=3, le=32, description="Drain's tree depth")
    sample_lines: int = Field(3, ge=1, le=20, description="diverse lines of a group shown per ask")
    on_mismatch: Literal["split", "fallback"] = Field(
        "fallback", description="a template that fits only some lines: split the group, or take Drain's template")
    min_group_lines: int = Field(1, ge=1, description="smaller groups take Drain's template without a model call "
                                                       "(bounds the calls on logs with many rare templates)")
    max_rounds: int = Field(2, ge=1, le=10, description="asks per group at most (split mode)")
    reconcile: bool = Field(True, description="a model template that fails the check is merged token by token "
                                              "with Drain's (a token either marks variable is variable; two "
                                              "different constants keep Drain's) and checked again")
    min_kept_tokens: float = Field(0.6, ge=0.0, le=1.0,
                                   description="a model template keeps at least this share of the constant tokens "
                                               "of Drain's template (verbatim, or as a token pattern such as "
                                               "id=<*> that fits them); one with no constant text is always "
                                               "rejected")

    @field_validator("drain_regex")
    @classmethod
    def _compiles(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return check_regexes(v)

    @classmethod
    def for_system(cls, system: str | None, **overrides: Any) -> "BatchParseSettings":
        """LogPAI's Drain settings for a Loghub system name (``logreasoner.logs.drain_settings``, shared with
        the Drain3 baseline of the evals), else the defaults."""
        for name, s in LOGPAI_DRAIN_SETTINGS.items():
            if system and name.lower() == system.lower():
                return cls(drain_regex=s.regex, drain_st=s.st, drain_depth=s.depth, **overrides)
        return cls(**overrides)


@dataclass
class ParseStats:
    """What one :meth:`BatchParser.parse` did."""

    lines: int = 0
    cache_hits: int = 0  # lines that fit a template cached by an earlier run
    groups: int = 0  # Drain groups of the lines the cache did not cover
    model_calls: int = 0
    model_templates: int = 0  # templates the templater wrote that passed the check
    rejected: int = 0  # answers that failed the check (or were empty)
    split_groups: int = 0
    reconciled: int = 0  # model templates taken after the token-by-token merge with Drain's
    fallback_lines: int = 0  # lines that took Drain's template
    seconds: float = 0.0

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ParseResult:
    """One template per input line, and where each came from: ``cache``, ``model`` or ``drain``."""

    templates: list[str]
    origins: list[str]
    stats: ParseStats = field(default_factory=ParseStats)


def clean_template(text: Any) -> str:
    """The model's answer as a one-line template (surrounding quotes and blank lines dropped)."""
    lines = [x.strip() for x in str(text or "").strip().splitlines() if x.strip()]
    t = lines[0] if lines else ""
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'`":
        t = t[1:-1].strip()
    return t


def diverse_sample(lines: Sequence[str], k: int, scan: int = 500) -> list[str]:
    """Up to ``k`` distinct lines that together show the most distinct tokens (greedy; the first line first)."""
    pool = list(dict.fromkeys(lines[:scan]))
    if len(pool) <= k:
        return pool
    picked = [pool[0]]
    seen = set(pool[0].split())
    rest = pool[1:]
    while len(picked) < k and rest:
        best = max(range(len(rest)), key=lambda i: len(set(rest[i].split()) - seen))
        line = rest.pop(best)
        picked.append(line)
        seen |= set(line.split())
    return picked


def keeps_enough(template: str, drain_template: str, share: float) -> bool:
    """True when ``template`` has constant text and either has at least as much of it as Drain's template or keeps
    ``share`` of the constant tokens of Drain's template (a token is kept when the template has it verbatim or has
    a token pattern, e.g. ``id=<*>``, that fits it). A template with another token count than Drain's has a
    wildcard that spans tokens: it must keep all of Drain's constant tokens, which Drain saw in every line of the
    group (else ``client /<*>:<*>`` would swallow ``which had sessionid`` and merge groups that differ there)."""
    chars = literal_chars(template)
    if not chars:
        return False
    constant = [y for y in drain_template.split() if "<*>" not in y]
    if not constant or chars >= literal_chars(drain_template):  # at least as specific as Drain's
        return True
    have = template.split()
    if len(have) != len(drain_template.split()):
        share = 1.0
    exact = set(have)
    patterns = [compile_template(x) for x in have if "<*>" in x and x != "<*>"]
    kept = sum(1 for y in constant if y in exact or any(p.match(y, 1) for p in patterns))
    return kept >= share * len(constant)


def reconcile(template: str, drain_template: str) -> str | None:
    """Token-by-token merge of a model template with Drain's; None when the token counts differ or the model's
    answer keeps fewer than half of Drain's constant tokens in place (it is not an answer about these lines)."""
    a, b = template.split(), drain_template.split()
    if len(a) != len(b):
        return None
    constant = [(x, y) for x, y in zip(a, b) if "<*>" not in y]
    if 2 * sum(x == y for x, y in constant) < len(constant):
        return None
    out = []
    for x, y in zip(a, b):
        if y == "<*>":  # Drain saw this token vary (or masked it whole)
            out.append(y)
        elif "<*>" in x:  # the model marks (part of) it variable
            out.append(x)
        else:  # both constant: Drain's, which saw every line
            out.append(y)
    return " ".join(out)


def _drain_groups(lines: Sequence[str], s: BatchParseSettings) -> tuple[list[int], dict[int, str]]:
    """Drain3 cluster id per line and each cluster's final template (the Loghub benchmark's way)."""
    miner = make_template_miner(DrainSettings(regex=s.drain_regex, st=s.drain_st, depth=s.drain_depth))
    ids = [miner.add_log_message(line)["cluster_id"] for line in lines]
    return ids, {c.cluster_id: c.get_template() for c in miner.drain.clusters}


class BatchParser:
    """``BatchParser(templater, store=...).parse(lines, system=...) -> ParseResult``.

    ``templater`` is any ``callable(lines) -> template | None`` — :class:`logreasoner.programs.group_template.
    ProgramTemplater` runs the parse program on a model — or None for Drain3 templates only. ``store`` keeps
    templates across runs (None: nothing is cached). Building a parser does no I/O.
    """

    def __init__(self, templater: Templater | None = None, *, settings: BatchParseSettings | None = None,
                 store: TemplateStore | None = None, model_name: str | None = None) -> None:
        if templater is not None and not callable(templater):
            raise ConfigError(f"the templater must be callable, got {type(templater).__name__}",
                              "pass a function lines -> template, a ProgramTemplater, or None for Drain3 only")
        if settings is not None and not isinstance(settings, BatchParseSettings):
            raise ConfigError(f"settings must be BatchParseSettings, got {type(settings).__name__}",
                              "build them with BatchParseSettings(...) or BatchParseSettings.for_system(name)")
        self.templater = templater
        self.settings = settings or BatchParseSettings()
        self.store = store
        self.model_name = model_name or str(getattr(templater, "name", "") or "")

    def parse(self, lines: Sequence[str], system: str = "default") -> ParseResult:
        """Parse every line; ``system`` names the cache partition (templates of one system are shared)."""
        t0 = time.perf_counter()
        lines = [str(x).rstrip("\r\n") for x in lines]
        if not lines:
            raise InputError("no lines to parse", "pass a non-empty list of log lines (message contents)")
        if not str(system).strip():
            raise InputError("the system name is empty", "name the system whose templates the cache keeps, "
                             "e.g. system='HDFS' (or leave the default)")
        st = ParseStats(lines=len(lines))
        out: list[str | None] = [None] * len(lines)
        origins = [""] * len(lines)

        cached = TemplateIndex(self.store.templates(system, modelless=self.templater is None)
                               if self.store is not None else ())
        todo = []
        for i, line in enumerate(lines):
            t = cached.find(line) if len(cached) else None
            if t is None:
                todo.append(i)
            else:
                out[i], origins[i] = t, "cache"
        st.cache_hits = len(lines) - len(todo)

        new: dict[str, list[Any]] = {}  # template -> [source, lines]
        if todo:
            ids, drain_templates = _drain_groups([lines[i] for i in todo], self.settings)
            # a group = the lines of one Drain template string (Drain3 may hold several clusters with one template,
            # and the Loghub scores group by the string)
            members: dict[str, list[int]] = {}
            for i, cid in zip(todo, ids):
                members.setdefault(drain_templates[cid], []).append(i)
            st.groups = len(members)
            learned = TemplateIndex()
            for drain_template, idx in sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[1][0])):
                self._parse_group(lines, idx, drain_template, learned, out, origins, new, st)

        if self.store is not None and new:
            # a Drain template stored by a run with a model (the model's answers failed) keeps the model's name
            name = self.model_name or ("templater" if self.templater is not None else "")
            self.store.add(system, [(t, src, name, n) for t, (src, n) in new.items()])
        st.seconds = time.perf_counter() - t0
        return ParseResult(templates=[t or "" for t in out], origins=origins, stats=st)

    def _parse_group(self, lines: Sequence[str], idx: list[int], drain_template: str, learned: TemplateIndex,
                     out: list, origins: list, new: dict, st: ParseStats) -> None:
        def take(template: str, source: str, where: list[int]) -> None:
            for i in where:
                out[i], origins[i] = template, source
            entry = new.setdefault(template, [source, 0])
            entry[1] += len(where)

        if self.templater is None or len(idx) < self.settings.min_group_lines or not drain_template.strip():
            take(drain_template, "drain", idx)
            return
        rest = []
        share = self.settings.min_kept_tokens
        # lines that fit (token-aligned: Drain never groups lines of different lengths) a template the model
        # wrote for an earlier group of this run take it — that is how the model merges groups Drain kept apart —
        # if it keeps as much of this group's constant text as an answer for this group would have to
        for i in idx:
            t = learned.find(lines[i], loose=False) if len(learned) else None
            if t is None or not keeps_enough(t, drain_template, share):
                rest.append(i)
            else:
                take(t, "model", [i])
        rounds = 0
        while rest and rounds < self.settings.max_rounds:
            rounds += 1
            sample = diverse_sample([lines[i] for i in rest], self.settings.sample_lines)
            st.model_calls += 1
            template = clean_template(self.templater(sample))
            if not template or not keeps_enough(template, drain_template, share):
                st.rejected += 1
                break
            c = compile_template(template)
            fit = [i for i in rest if c.match(lines[i])]
            # split mode: a template with a variable that fits some lines splits the group (Drain may have merged
            # two templates); one without (an echoed line) or one that fits none is reconciled with Drain's first
            splits = self.settings.on_mismatch == "split" and bool(fit) and "<*>" in template
            if len(fit) < len(rest) and self.settings.reconcile and not splits:
                merged = reconcile(template, drain_template)
                if merged and merged != template and keeps_enough(merged, drain_template, share):
                    cm = compile_template(merged)
                    if all(cm.match(lines[i]) for i in rest):
                        template, fit = merged, list(rest)
                        st.reconciled += 1
            if len(fit) == len(rest):
                take(template, "model", rest)
                learned.add(template)
                st.model_templates += 1
                rest = []
                break
            st.rejected += 1
            if not splits:
                break
            st.split_groups += 1 if rounds == 1 else 0
            take(template, "model", fit)
            learned.add(template)
            st.model_templates += 1
            fitted = set(fit)
            rest = [i for i in rest if i not in fitted]
        if rest:
            st.fallback_lines += len(rest)
            take(drain_template, "drain", rest)
