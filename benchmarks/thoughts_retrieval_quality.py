"""Retrieval quality of the thought store on the development data: is a flowchart of the right family in the
top 3?

For each example of the dev sets the store is asked ``retrieve(log, task=T, k=3)``; a *hit* is a returned plan
drawn from a flowchart of the example's family: a chart tagged with the task whose ``systems`` name the
example's system. When the library has no chart with both (log parsing: only the method chart is tagged
``parse``), the family is the task's system-independent charts (``systems: [any]``); such rows are marked
trivial in the output.

Examples (from ``--data``, default ``/work/shared/data``):
- ``loghub-2k``: per system, 20 windows of 10 consecutive raw lines (tasks anomaly, diagnosis, rca, interpret)
  and 20 single lines (parse);
- ``logeval``: the 271 fault-diagnosis entries (task diagnosis); the system comes from the label
  (VM start-up -> virtualization/OpenStack/KVM, port down -> Open vSwitch/network device, CPU/memory/disk ->
  server/BMC; the one "Mirror does not specify output" entry has no system). A stricter row asks for the
  chart written for the fault class itself (vm-startup-failure, netdev-port-down, server-cpu-caterr-thermal,
  server-memory-ecc-throttling, server-disk-controller-fault);
- ``logprompt``: the 1,766 BGL templates (task anomaly, system BGL);
- ``loglm``: the instructions by task; the system is found by matching the line against the Loghub-2k lines
  and templates (parsing, anomaly) or by strong keywords (Apache, Windows, OpenSSH, ...); examples whose system
  cannot be told are counted but not scored.

Configurations: lexical (BM25) vs hybrid (BM25 + all-MiniLM-L6-v2), each with and without the DPP step.
``--engine`` picks the lexical ranking: ``auto`` (what the store does: FTS5 at the library's size), ``fts5`` or
``tantivy`` (the text index that large stores use).

Run: ``python benchmarks/thoughts_retrieval_quality.py [--json out.json] [--limit N] [--engine auto|fts5|tantivy]``
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from logreasoner.thoughts_db import ThoughtStore, library_files, load_flowchart
from logreasoner.thoughts_db.embed import default_embedder

LOGHUB_SYSTEMS = ["Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "OpenSSH", "Spark",
                  "Thunderbird", "Windows", "Zookeeper"]
# where the LogEval entries come from: cloud compute hosts (OpenStack/KVM, Open vSwitch with DPDK) and server BMCs
LOGEVAL_SYSTEMS = {
    "Virtual Machine Startup Failure": {"virtualization", "OpenStack", "KVM"},
    "Management port down": {"Open vSwitch", "network device"},
    "Operational port down": {"Open vSwitch", "network device"},
    "Processor CPU Caterr": {"server", "BMC"},
    "Memory Throttled Uncorrectable Error Correcting Code": {"server", "BMC"},
    "Hard Disk Drive Control Error Computer System Bus Short Circuit Programmable Gate Array Device Unknown":
        {"server", "BMC"},
}
# stricter: the chart written for that fault class (triage charts that cover every class left out)
LOGEVAL_FAULT_CHARTS = {
    "Virtual Machine Startup Failure": {"vm-startup-failure"},
    "Management port down": {"netdev-port-down"},
    "Operational port down": {"netdev-port-down"},
    "Processor CPU Caterr": {"server-cpu-caterr-thermal"},
    "Memory Throttled Uncorrectable Error Correcting Code": {"server-memory-ecc-throttling"},
    "Hard Disk Drive Control Error Computer System Bus Short Circuit Programmable Gate Array Device Unknown":
        {"server-disk-controller-fault"},
}
LOGLM_TASKS = {"log_parsing": "parse", "anomaly_detection": "anomaly", "root_cause_analysis": "rca",
               "solution_recommendation": "rca", "log_interpretation": "interpret"}
KEYWORDS = {
    "Apache": r"\bapache|httpd|\.htaccess|\bmod_[a-z]+|\bAH\d{5}\b|\[client \d",
    "Windows": r"\bwindows\b|\bCBS\b|TrustedInstaller",
    "OpenSSH": r"\bsshd\b|openssh",
    "Linux": r"\bkernel:|\bsystemd\b|\bcrond\b|pam_unix",
    "HDFS": r"\bhdfs\b|datanode|namenode|blk_-?\d",
    "Hadoop": r"\bhadoop\b|mapreduce|MRAppMaster|\bjob_\d",
    "Spark": r"\bspark\b",
    "Zookeeper": r"zookeeper|QuorumPeer",
    "Android": r"\bandroid\b",
}


# ------------------------------------------------------------------------------------------------- examples
class LoghubIndex:
    """Tell a line's (or template's) Loghub system from the Loghub-2k contents and corrected templates."""

    def __init__(self, root: Path) -> None:
        self.lines: dict[str, set[str]] = defaultdict(set)
        self.templates: dict[str, set[str]] = defaultdict(set)
        for sysname in LOGHUB_SYSTEMS:
            f = root / sysname / f"{sysname}_2k.log_structured_corrected.csv"
            with f.open(encoding="utf-8", errors="replace") as fh:
                for row in csv.DictReader(fh):
                    self.lines[row["Content"].strip()].add(sysname)
                    self.templates[self._norm(row["EventTemplate"])].add(sysname)

    @staticmethod
    def _norm(t: str) -> str:
        return re.sub(r"\s+", " ", re.sub(r"(<\*>\s*)+", "<*> ", t)).strip()

    def system(self, text: str) -> str | None:
        text = text.strip()
        found = self.lines.get(text) or self.templates.get(self._norm(text)) or set()
        return next(iter(found)) if len(found) == 1 else None


def keyword_system(text: str) -> str | None:
    hits = [s for s, rx in KEYWORDS.items() if re.search(rx, text, re.I)]
    return hits[0] if len(hits) == 1 else None


def examples(data: Path, limit: int | None) -> list[dict]:
    out: list[dict] = []
    for sysname in LOGHUB_SYSTEMS:
        lines = (data / "loghub-2k" / sysname / f"{sysname}_2k.log").read_text(encoding="utf-8",
                                                                               errors="replace").splitlines()
        for i in range(20):
            window = "\n".join(lines[i * 100:i * 100 + 10])
            for task in ("anomaly", "diagnosis", "rca", "interpret"):
                out.append({"set": "loghub-2k", "query": window, "task": task, "systems": {sysname}})
            out.append({"set": "loghub-2k", "query": lines[i * 100 + 50], "task": "parse", "systems": {sysname}})
    for line in (data / "logeval" / "fault_diagnosis_dev.jsonl").read_text().splitlines():
        r = json.loads(line)
        out.append({"set": "logeval", "query": r["log"], "task": "diagnosis",
                    "systems": LOGEVAL_SYSTEMS.get(r["answer"]), "fault_charts": LOGEVAL_FAULT_CHARTS.get(r["answer"])})
    for line in (data / "logprompt" / "bgl_templates.jsonl").read_text().splitlines():
        r = json.loads(line)
        out.append({"set": "logprompt", "query": r["template"], "task": "anomaly", "systems": {"BGL"},
                    "abnormal": r["label"] == "abnormal"})
    index = LoghubIndex(data / "loghub-2k")
    for line in (data / "loglm" / "instructions.jsonl").read_text().splitlines():
        r = json.loads(line)
        task = LOGLM_TASKS.get(r["task"])
        if task is None:
            continue
        text = r["input"].strip().strip("`").strip()
        system = index.system(text) if task in ("parse", "anomaly") else None
        system = system or keyword_system(r["instruction"] + "\n" + r["input"])
        out.append({"set": "loglm", "query": r["input"], "task": task, "systems": {system} if system else None,
                    "loglm_task": r["task"]})
    if limit:
        by: dict[tuple, list] = defaultdict(list)
        for e in out:
            by[(e["set"], e["task"])].append(e)
        out = [e for group in by.values() for e in group[:limit]]
    return out


# ------------------------------------------------------------------------------------------------- families
def families(files: list[Path]) -> dict[str, dict]:
    charts = {}
    for f in files:
        fc = load_flowchart(f)
        charts[fc.id] = {"tasks": set(fc.meta.tasks), "systems": {s.lower() for s in fc.meta.systems}}
    return charts


def family_of(charts: dict[str, dict], task: str, systems: set[str]) -> tuple[set[str], bool]:
    want = {s.lower() for s in systems}
    fam = {cid for cid, c in charts.items() if task in c["tasks"] and c["systems"] & want}
    if fam:
        return fam, False
    return {cid for cid, c in charts.items() if task in c["tasks"] and "any" in c["systems"]}, True


class CachedEmbedder:
    """Wraps the MiniLM embedder: each query is embedded once (in batches), kept in a file between runs."""

    def __init__(self, inner, path: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = path
        self.cache: dict[str, np.ndarray] = {}  # sha1 of the text -> vector
        if path.exists():
            data = np.load(path, allow_pickle=False)
            self.cache = dict(zip(data["keys"].tolist(), data["vectors"]))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def warm(self, texts: list[str], batch: int = 128) -> None:
        todo = [t for t in dict.fromkeys(texts) if self.key(t) not in self.cache]
        for i in range(0, len(todo), batch):
            vecs = self.inner.encode(todo[i:i + batch])
            self.cache.update(zip(map(self.key, todo[i:i + batch]), vecs))
            if (i // batch) % 10 == 9 or i + batch >= len(todo):
                self.save()
                print(f"  queries embedded: {min(i + batch, len(todo))}/{len(todo)}", file=sys.stderr)

    def save(self) -> None:
        keys = list(self.cache)
        np.savez(self.path, keys=np.array(keys), vectors=np.vstack([self.cache[k] for k in keys]))

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if self.key(t) not in self.cache]
        if missing:
            self.warm(missing)
        return np.vstack([self.cache[self.key(t)] for t in texts])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "logreasoner-bench" / "quality.db")
    ap.add_argument("--limit", type=int, default=None, help="at most N examples per (set, task)")
    ap.add_argument("--no-hybrid", action="store_true", help="lexical configurations only")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--engine", choices=["auto", "fts5", "tantivy"], default="auto", help="lexical ranking")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]

    files = library_files()
    charts = families(files)
    exs = examples(args.data, args.limit)
    print(f"library: {len(files)} flowcharts; examples: {len(exs)}", file=sys.stderr)

    args.db.parent.mkdir(parents=True, exist_ok=True)
    configs = [("lexical", "lexical", 0.7), ("lexical, no DPP", "lexical", None)]
    emb = None
    if not args.no_hybrid:
        base = default_embedder()
        if base is None:
            print("all-MiniLM-L6-v2 not installed: lexical only", file=sys.stderr)
        else:
            emb = CachedEmbedder(base, args.db.with_suffix(".queries.npz"))
            configs += [("hybrid", "hybrid", 0.7), ("hybrid, no DPP", "hybrid", None)]
    store = ThoughtStore(args.db, embeddings=emb if emb is not None else False)
    store.load_library()
    t0 = time.time()
    if emb is not None:
        n = store.ensure_embeddings()
        print(f"embedded {n} templates in {time.time() - t0:.1f}s", file=sys.stderr)
        t0 = time.time()
        emb.warm([e["query"][:4000] for e in exs])
        print(f"embedded {len(emb.cache)} queries in {time.time() - t0:.1f}s", file=sys.stderr)

    # per (set, task, config): [hits, scored, unknown, trivial]
    table: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for name, mode, theta in configs:
        t0 = time.time()
        for e in exs:
            key = (e["set"], e["task"], name)
            if not e["systems"]:
                table[key][2] += 1
                continue
            fam, trivial = family_of(charts, e["task"], e["systems"])
            plans = store.retrieve(e["query"], task=e["task"], k=3, mode=mode, theta=theta, record_usage=False,
                                   engine=args.engine)
            hit = any(p.flowchart_id in fam for p in plans)
            keys = [key]
            if e.get("abnormal"):
                keys.append((e["set"], e["task"] + " (abnormal only)", name))
            if not trivial:  # the aggregates leave out rows where the family is the only chart of the task
                keys += [(e["set"], "all non-trivial", name), ("all sets", "all non-trivial", name)]
            for k in keys:
                table[k][0] += hit
                table[k][1] += 1
                table[k][3] += trivial
            if e.get("fault_charts") and e["fault_charts"] <= set(charts):
                k = (e["set"], e["task"] + " (chart of the fault class)", name)
                table[k][0] += any(p.flowchart_id in e["fault_charts"] for p in plans)
                table[k][1] += 1
        print(f"{name}: {time.time() - t0:.1f}s", file=sys.stderr)

    names = [c[0] for c in configs]
    rows = sorted({(s, t) for s, t, _ in table}, key=lambda x: (x[0] == "all sets", x[0], x[1] == "all non-trivial", x[1]))
    print("| set | task | scored | not scored (system unknown) | " + " | ".join(f"top-3 hit, {n}" for n in names)
          + " |")
    print("|---|---|---:|---:|" + "---:|" * len(names))
    results = []
    for s, t in rows:
        cells = [table[(s, t, n)] for n in names]
        scored, unknown, trivial = cells[0][1], cells[0][2], cells[0][3]
        rates = [c[0] / c[1] if c[1] else float("nan") for c in cells]
        mark = " (trivial: one chart)" if scored and trivial == scored else ""
        print(f"| {s} | {t}{mark} | {scored} | {unknown} | " + " | ".join(f"{r:.3f}" for r in rates) + " |")
        results.append({"set": s, "task": t, "scored": scored, "unknown_system": unknown, "trivial": trivial,
                        **{n: r for n, r in zip(names, rates)}})
    load_after = os.getloadavg()[0]
    print(f"lexical engine: {args.engine}; load average (1 min) before / after: {load_before:.2f} / {load_after:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"library": len(files), "examples": len(exs), "engine": args.engine,
                                         "load1_before": load_before, "load1_after": load_after, "rows": results},
                                        indent=2))
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
