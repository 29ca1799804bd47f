"""Speed of the thought store: retrieval latency with many stored templates, and flowchart import rate.

Retrieval: a store is filled with synthetic thought templates (10,000, then 100,000 by default), recombined from
the shipped library's templates: the title and overview of one template, two key challenges and 3-7 reasoning
steps drawn from the whole library, 1-3 random tasks, one system. Queries are 10-line windows of the Loghub-2k
logs of the 12 systems, with the task cycling through (none, anomaly, diagnosis, rca, interpret, parse).
Latency is the wall time of ``store.retrieve(query, task=..., k=3)`` as programs call it (lexical candidates,
vector candidates, the DPP step, usage counts), lexical alone and hybrid. The query embedding is excluded: every
query is embedded by all-MiniLM-L6-v2 once before the timed calls, and that cost is reported on its own row.
Lexical runs with the default engine (FTS5 below 20,000 templates, the tantivy index above when installed) and,
for comparison, with FTS5 forced at every size.

Index builds (the usearch vector file, the tantivy folder) are timed on their own after each fill. "First query
after start" runs in a new Python process: open the store, one retrieval (indexes already on disk, query vector
given), timed from the open to the answer.

Template vectors for the synthetic templates are the normalised sum of the MiniLM vectors of their parts
(computed once per distinct part) instead of one model call per template: the values do not change the cost
of a query, and embedding 100,000 templates takes hours on a 2-core CPU.

Import: the shipped library files read, parsed, validated, turned into templates and written, all in one
transaction and one chart per transaction, into fresh stores.

The load average (1 minute) is recorded beside every figure: the development machine is shared.

Run: ``python benchmarks/thoughts_speed.py [--sizes 10000 100000] [--queries 100] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from logreasoner.thoughts_db import ThoughtStore, ThoughtTemplate, flowchart_to_plans, library_files, load_flowchart
from logreasoner.thoughts_db import textindex
from logreasoner.thoughts_db.embed import default_embedder

TASKS = ["anomaly", "diagnosis", "rca", "interpret", "parse"]
SYSTEMS = ["Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "OpenSSH", "Spark", "Thunderbird",
           "Windows", "Zookeeper"]


def library_templates() -> list[ThoughtTemplate]:
    out = []
    for f in library_files():
        out += flowchart_to_plans(load_flowchart(f), strict=False)
    if not out:
        sys.exit("no shipped flowcharts in thoughts_db/library/")
    return out


class Synth:
    def __init__(self, base: list[ThoughtTemplate], seed: int = 0) -> None:
        self.base = base
        self.rng = random.Random(seed)
        self.steps = sorted({s for t in base for s in t.reasoning_steps})
        self.challenges = sorted({c for t in base for c in t.key_challenges})
        self.systems = sorted({s for t in base for s in t.systems} | set(SYSTEMS))

    def make(self, i: int) -> tuple[ThoughtTemplate, list[str]]:
        r = self.rng
        b = r.choice(self.base)
        steps = r.sample(self.steps, r.randint(3, 7))
        challenges = r.sample(self.challenges, 2)
        t = ThoughtTemplate(
            id=f"synth:{i}", title=b.title, problem_overview=b.problem_overview, key_challenges=challenges,
            reasoning_steps=steps, tasks=r.sample(TASKS, r.randint(1, 3)), systems=[r.choice(self.systems)],
            components=b.components, keywords=b.keywords, source=f"synthetic from {b.source}", origin="manual",
        )
        return t, [b.title, b.problem_overview, *challenges, *steps]


def part_vectors(parts: list[str], cache: Path) -> dict[str, np.ndarray]:
    emb = default_embedder()
    if emb is None:
        return {}
    known: dict[str, np.ndarray] = {}
    if cache.exists():
        data = json.loads(cache.read_text())
        known = {k: np.asarray(v, dtype=np.float32) for k, v in data.items()}
    todo = [p for p in dict.fromkeys(parts) if p not in known]
    t0 = time.time()
    for i in range(0, len(todo), 128):
        chunk = todo[i:i + 128]
        known.update(zip(chunk, emb.encode(chunk)))
    if todo:
        print(f"  embedded {len(todo)} template parts in {time.time() - t0:.1f}s", file=sys.stderr)
        cache.write_text(json.dumps({k: v.round(6).tolist() for k, v in known.items()}))
    return known


def fill(store: ThoughtStore, synth: Synth, start: int, stop: int, vectors: dict[str, np.ndarray]) -> float:
    t0 = time.time()
    for lo in range(start, stop, 5000):
        made = [synth.make(i) for i in range(lo, min(stop, lo + 5000))]
        store.add_templates([t for t, _ in made])
        if vectors:
            vecs = np.vstack([sum(vectors[p] for p in parts) for _, parts in made]).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            store.put_embeddings("all-MiniLM-L6-v2", [t.id for t, _ in made], vecs)
    return time.time() - t0


def queries(data: Path, n: int) -> list[tuple[str, str | None]]:
    out = []
    logs = {s: (data / "loghub-2k" / s / f"{s}_2k.log").read_text(encoding="utf-8", errors="replace").splitlines()
            for s in SYSTEMS}
    cycle = [None, *TASKS]
    for i in range(n):
        lines = logs[SYSTEMS[i % len(SYSTEMS)]]
        start = (i * 37) % (len(lines) - 10)
        out.append(("\n".join(lines[start:start + 10]), cycle[i % len(cycle)]))
    return out


class QueryVectors:
    """The MiniLM embedder with every benchmark query embedded up front, so timed calls exclude embedding."""

    def __init__(self, inner, texts: list[str]) -> None:
        self.inner, self.name = inner, inner.name
        self.cache: dict[str, np.ndarray] = {}
        self.encode_ms: list[float] = []
        inner.encode(["warm up the model"])
        for t in dict.fromkeys(texts):
            t0 = time.perf_counter()
            self.cache[t] = inner.encode([t])[0]
            self.encode_ms.append((time.perf_counter() - t0) * 1000)

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.vstack([self.cache[t] if t in self.cache else self.inner.encode([t])[0] for t in texts])


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def summary(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))],
            "max_ms": times[-1], "queries": len(times)}


def time_queries(store: ThoughtStore, qs, mode: str, engine: str = "auto") -> dict[str, float]:
    load_before = load1()
    times = []
    for q, task in qs:
        t0 = time.perf_counter()
        store.retrieve(q, task=task, k=3, mode=mode, engine=engine)
        times.append((time.perf_counter() - t0) * 1000)
    return {**summary(times), "load1_before": load_before, "load1_after": load1()}


_FIRST_QUERY = """
import json, sys, time
import numpy as np
t0 = time.perf_counter()
from logreasoner.thoughts_db import ThoughtStore

class Given:
    name = "all-MiniLM-L6-v2"
    def encode(self, texts):
        return np.load(sys.argv[3])[None, :]

mode = sys.argv[2]
t1 = time.perf_counter()
store = ThoughtStore(sys.argv[1], embeddings=Given() if mode == "hybrid" else False)
plans = store.retrieve(sys.argv[4], task="anomaly", k=3, mode=mode, record_usage=False)
t2 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1000, "open_and_first_query_ms": (t2 - t1) * 1000, "plans": len(plans)}))
"""


def first_query(db: Path, mode: str, query: str, vector: np.ndarray | None, workdir: Path) -> dict:
    vec = workdir / "query.npy"
    np.save(vec, vector if vector is not None else np.zeros(384, dtype=np.float32))
    load_before = load1()
    out = subprocess.run([sys.executable, "-c", _FIRST_QUERY, str(db), mode, str(vec), query],
                         capture_output=True, text=True, check=True)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "load1_before": load_before}


def folder_mb(path: Path) -> float:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20
    return path.stat().st_size / 2**20 if path.exists() else 0.0


def import_rate(files: list[Path], rounds: int, workdir: Path) -> dict[str, float]:
    res = {}
    for label, per_chart in (("one transaction", False), ("one chart per transaction", True)):
        n, elapsed = 0, 0.0
        for r in range(rounds):
            db = workdir / f"import-{per_chart}-{r}.db"
            store = ThoughtStore(db, embeddings=False)
            t0 = time.perf_counter()
            if per_chart:
                for f in files:
                    store.import_flowcharts(f)
            else:
                store.import_flowcharts(files)
            elapsed += time.perf_counter() - t0
            n += len(files)
            store.close()
        res[label] = n / elapsed
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5, help="import rounds")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "logreasoner-bench" / "speed")
    ap.add_argument("--no-hybrid", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--text-index-from", type=int, default=None,
                    help="store size from which the tantivy index is used (default: the library's, 20,000)")
    args = ap.parse_args()
    if args.text_index_from is not None:
        textindex.TEXT_INDEX_FROM = args.text_index_from

    if args.workdir.exists():
        for f in args.workdir.glob("*.db*"):
            shutil.rmtree(f) if f.is_dir() else f.unlink()
    args.workdir.mkdir(parents=True, exist_ok=True)
    files = library_files()
    results: dict = {"library_files": len(files)}

    rates = import_rate(files, args.rounds, args.workdir)
    results["import_charts_per_s"] = rates
    print(f"import ({len(files)} charts x {args.rounds}): " + ", ".join(f"{k}: {v:.1f} charts/s"
                                                                     for k, v in rates.items()), file=sys.stderr)

    base = library_templates()
    synth = Synth(base)
    vectors: dict[str, np.ndarray] = {}
    if not args.no_hybrid:
        parts = [p for t in base for p in (t.title, t.problem_overview, *t.key_challenges, *t.reasoning_steps)]
        vectors = part_vectors(parts, args.workdir.parent / "part_vectors.json")
    qs = queries(args.data, args.queries)
    db = args.workdir / "speed.db"
    lexical = ThoughtStore(db, embeddings=False)
    hybrid = None
    if vectors:
        qv = QueryVectors(default_embedder(), [q[:4000] for q, _ in qs])
        results["query_embedding"] = {**summary(qv.encode_ms), "load1": load1()}
        hybrid = ThoughtStore(db, embeddings=qv)
    filled = 0
    results["sizes"] = {}
    for size in sorted(args.sizes):
        added = size - filled
        secs = fill(lexical, synth, filled, size, vectors)
        filled = size
        row: dict = {"insert_templates_per_s": added / secs if added else None, "load1_start": load1()}
        t0 = time.perf_counter()
        text = lexical._text_index("auto")
        row["text_index_build_s"] = (time.perf_counter() - t0) if text is not None else None
        if hybrid is not None:
            t0 = time.perf_counter()
            hybrid._vector_index()
            row["vector_index_build_s"] = time.perf_counter() - t0
        row["db_mb"] = db.stat().st_size / 2**20
        row["vector_index_mb"] = sum(folder_mb(f) for f in args.workdir.glob("speed.db.*.usearch"))
        row["text_index_mb"] = folder_mb(args.workdir / "speed.db.tantivy")
        lexical.retrieve(qs[0][0], k=3)  # warm the page cache
        row["lexical"] = time_queries(lexical, qs, "lexical")
        row["lexical_engine"] = "tantivy" if text is not None else "fts5"
        if text is not None:
            row["lexical_fts5"] = time_queries(lexical, qs, "lexical", engine="fts5")
        row["first_lexical"] = first_query(db, "lexical", qs[1][0], None, args.workdir)
        if hybrid is not None:
            hybrid.retrieve(qs[0][0], k=3)
            row["hybrid"] = time_queries(hybrid, qs, "hybrid")
            row["first_hybrid"] = first_query(db, "hybrid", qs[1][0], qv.cache[qs[1][0][:4000]], args.workdir)
        row["load1_end"] = load1()
        results["sizes"][size] = row
        print(f"{size}: {json.dumps(row)}", file=sys.stderr)

    print("| templates | mode (engine) | median ms | p95 ms | max ms | load avg (1 min) before / after |")
    print("|---:|---|---:|---:|---:|---|")
    for size, row in results["sizes"].items():
        for key, label in (("lexical", f"lexical ({row['lexical_engine']})"), ("lexical_fts5", "lexical (fts5)"),
                           ("hybrid", f"hybrid ({row['lexical_engine']} + usearch)")):
            if key in row:
                r = row[key]
                print(f"| {size:,} | {label} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['max_ms']:.1f} | "
                      f"{r['load1_before']} / {r['load1_after']} |")
    if "query_embedding" in results:
        r = results["query_embedding"]
        print(f"query embedding (MiniLM, one query, 1 thread): median {r['median_ms']:.1f} ms, p95 "
              f"{r['p95_ms']:.1f} ms (load {r['load1']})")
    for size, row in results["sizes"].items():
        firsts = ", ".join(f"{m} {row[f'first_{m}']['open_and_first_query_ms']:.0f} ms (load "
                           f"{row[f'first_{m}']['load1_before']})"
                           for m in ("lexical", "hybrid") if f"first_{m}" in row)
        builds = ", ".join(f"{name} {row[k]:.1f} s" for k, name in (("text_index_build_s", "tantivy"),
                                                                  ("vector_index_build_s", "usearch"))
                           if row.get(k) is not None)
        print(f"{size:,}: first query in a new process (open + retrieve): {firsts}; index builds: {builds or 'none'}; "
              f"sizes: db {row['db_mb']:.0f} MB, usearch {row['vector_index_mb']:.0f} MB, "
              f"tantivy {row['text_index_mb']:.0f} MB")
    for k, v in rates.items():
        print(f"import, {k}: {v:.1f} flowcharts/s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    lexical.close()
    if hybrid is not None:
        hybrid.close()
    shutil.rmtree(args.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
