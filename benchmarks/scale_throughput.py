"""Throughput of the scale layer: lines per second, model calls per 1,000 lines, peak memory; before vs after.

"Before" is reasoning per line (or per window): one model call each. "After" is template-aware: one call per
distinct template (per distinct window pattern), through the answer cache. Each measurement runs in a fresh
subprocess so its peak memory (getrusage max RSS) is its own; the load average is printed beside the timings
(this machine's two cores are shared).

    python benchmarks/scale_throughput.py loghub                       # 12 Loghub-2k systems, counting model
    python benchmarks/scale_throughput.py synthetic /tmp/scale_1m.log  # after scale_synth.py; counting model
    python benchmarks/scale_throughput.py local --system HDFS          # the real embedded model, end to end
    python benchmarks/scale_throughput.py mining /tmp/scale_1m.log     # pass one: stock toolkit path vs this layer

The counting model (tests/scale/scale_fakes.py) answers instantly and counts requests, so these figures are the
layer's own cost; ``local`` adds the real model's. Needs ../shared/data/loghub-2k for loghub/local.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOGHUB = Path(os.environ.get("LOGREASONER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) \
    / "loghub-2k"
SYSTEMS = ["Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "OpenSSH", "Spark", "Thunderbird",
           "Windows", "Zookeeper"]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _load() -> float:
    return round(os.getloadavg()[0], 2)


# -- one measurement (runs in its own process) -------------------------------------------------------------------
def measure(path: str, *, model: str, program: str, window: int | None, split: bool, out: str | None,
            repeat_cached: bool) -> dict:
    from logreasoner.scale import AnswerCache, SessionSpec, scan_log

    if model == "counting":
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scale"))  # the test fake
        from scale_fakes import counting_lm

        lm = counting_lm()
    else:
        from logreasoner.lm import load_lm

        lm = load_lm(model, cache=False)
    tmp = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    cache = AnswerCache(tmp / "answers.sqlite")
    row: dict = {"path": path, "model": model, "program": program, "load_before": _load()}
    c0, t0 = _cpu(), time.perf_counter()
    r = scan_log(path, model=lm, program=program, cache=cache, out=out or str(tmp / "lines.jsonl"))
    row.update(wall_s=round(time.perf_counter() - t0, 2), cpu_s=round(_cpu() - c0, 2), load_after=_load())
    row.update({k: getattr(r, k) for k in ("lines", "templates", "distinct_template_texts", "naive_calls",
                                           "model_calls", "lm_requests", "failed", "mining_seconds",
                                           "reasoning_seconds", "writing_seconds", "calls_per_1000_lines",
                                           "counts")})
    row["lines_per_s"] = round(r.lines / row["wall_s"], 1)
    row["mining_lines_per_s"] = round(r.lines / r.mining_seconds, 1) if r.mining_seconds else None
    row["lines_per_cpu_s"] = round(r.lines / row["cpu_s"], 1) if row["cpu_s"] else None
    if r.model_calls:
        row["s_per_call"] = round(r.reasoning_seconds / r.model_calls, 3)
    from logreasoner.lm.spec import engine_of

    eng = engine_of(lm)
    st = getattr(eng, "stats", None)
    if st is not None and hasattr(st, "output_tokens"):
        row["lm"] = {"calls": st.calls, "in_tokens": st.input_tokens, "out_tokens": st.output_tokens,
                     "gen_seconds": round(st.seconds, 2), "finish_length": st.finish_length}
    if repeat_cached:
        r2 = scan_log(path, model=lm, program=program, cache=cache)
        row["rerun_calls"], row["rerun_hits"] = r2.model_calls, r2.cache_hits
    if split:  # the same system's log in two files: the second costs only its new templates
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        half = len(lines) // 2
        a, b = tmp / "first.log", tmp / "second.log"
        a.write_text("".join(lines[:half]), encoding="utf-8")
        b.write_text("".join(lines[half:]), encoding="utf-8")
        c2 = AnswerCache(tmp / "split.sqlite")
        ra = scan_log(a, model=lm, program=program, cache=c2)
        rb = scan_log(b, model=lm, program=program, cache=c2)
        rb_cold = scan_log(b, model=lm, program=program, cache=None)
        row["split"] = {"first_calls": ra.model_calls, "second_calls": rb.model_calls,
                        "second_hits": rb.cache_hits, "second_templates": rb_cold.model_calls}
    if window:
        rw = scan_log(path, model=lm, program=program, cache=None, sessions=SessionSpec(by="count", size=window))
        row["windows"] = {"size": window, "windows": rw.sessions, "patterns": rw.patterns,
                          "calls": rw.model_calls}
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return row


def run_child(args: list[str]) -> dict:
    cmd = [sys.executable, __file__, "_one", *args]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"child failed: {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _fmt(x, nd=0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{nd}f}" if isinstance(x, float) else f"{x:,}"


def cmd_loghub(args) -> None:
    rows = []
    for s in args.systems.split(","):
        path = LOGHUB / s / f"{s}_2k.log"
        row = run_child([str(path), "--model", "counting", "--program", args.program, "--window", "100", "--split"])
        row["system"] = s
        rows.append(row)
        print(f"{s}: {row['lines']} lines, {row['templates']} templates, {row['model_calls']} calls, "
              f"{row['lines_per_s']:.0f} lines/s, load {row['load_after']}", file=sys.stderr)
    print("| system | lines | templates | calls before (per line) | calls after | calls / 1k lines | "
          "2nd half of the file: new calls / its templates | 100-line windows: before / after | lines/s (wall) | "
          "lines/s mining | lines / CPU-s | peak RSS MB | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    tot = {"lines": 0, "templates": 0, "calls": 0}
    for r in rows:
        sp, w = r["split"], r["windows"]
        print(f"| {r['system']} | {_fmt(r['lines'])} | {_fmt(r['templates'])} | {_fmt(r['naive_calls'])} | "
              f"{_fmt(r['model_calls'])} | {r['calls_per_1000_lines']:.1f} | {sp['second_calls']} / "
              f"{sp['second_templates']} | {w['windows']} / {w['patterns']} | {_fmt(r['lines_per_s'])} | "
              f"{_fmt(r['mining_lines_per_s'])} | {_fmt(r['lines_per_cpu_s'])} | {r['peak_rss_mb']:.0f} | "
              f"{r['load_after']} |")
        tot["lines"] += r["lines"]
        tot["calls"] += r["model_calls"]
    print(f"\nall {len(rows)}: {tot['lines']:,} lines, {tot['calls']:,} calls after vs {tot['lines']:,} before "
          f"({1000 * tot['calls'] / tot['lines']:.1f} calls per 1,000 lines)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def cmd_synthetic(args) -> None:
    row = run_child([args.path, "--model", "counting", "--program", args.program, "--repeat-cached",
                     *(["--out", args.out] if args.out else [])])
    info_path = Path(args.path + ".json")
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    print(json.dumps(row, indent=2), file=sys.stderr)
    print("| log | lines | size MB | templates replayed | distinct templates mined | model calls (counting model) | "
          "calls before (per line) | calls / 1k lines | rerun with cache: calls | lines/s (wall) | lines/s mining | "
          "lines / CPU-s | mining s | reasoning s | writing s | peak RSS MB | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    size = Path(args.path).stat().st_size / 1e6
    print(f"| {Path(args.path).name} | {_fmt(row['lines'])} | {size:.0f} | {info.get('templates_replayed', '-')} | "
          f"{_fmt(row['distinct_template_texts'])} | {_fmt(row['model_calls'])} (requests seen: "
          f"{_fmt(row['lm_requests'])}) | {_fmt(row['naive_calls'])} | {row['calls_per_1000_lines']:.2f} | "
          f"{row['rerun_calls']} | {_fmt(row['lines_per_s'])} | {_fmt(row['mining_lines_per_s'])} | "
          f"{_fmt(row['lines_per_cpu_s'])} | {row['mining_seconds']:.1f} | {row['reasoning_seconds']:.1f} | "
          f"{row['writing_seconds']:.1f} | {row['peak_rss_mb']:.0f} | {row['load_before']} -> {row['load_after']} |")
    ok = row["model_calls"] == row["distinct_template_texts"] == row["lm_requests"] and row["peak_rss_mb"] < 1024
    print(f"\ncalls == distinct templates == requests the model saw: {ok}; peak memory under 1 GB: "
          f"{row['peak_rss_mb'] < 1024}")


def mining_child(path: str, which: str) -> dict:
    """Pass one only: the toolkit's stock path (reader + TemplateGrouper) or the scale layer's (StreamScanner)."""
    c0, t0, load0 = _cpu(), time.perf_counter(), _load()
    if which == "stock":
        from logreasoner.logs.reader import iter_lines
        from logreasoner.logs.templates import TemplateGrouper

        g = TemplateGrouper()
        n = 0
        for line in iter_lines(path):
            g.add(line)
            n += 1
        clusters, texts = len(g.groups), len({x.template for x in g.groups.values()})
    else:
        from logreasoner.scale import scan_stream

        with scan_stream(path, spool=False) as scan:
            n, clusters, texts = scan.lines, len(scan.templates), scan.distinct_template_texts()
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"which": which, "lines": n, "clusters": clusters, "template_texts": texts, "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1), "lines_per_s": round(n / wall), "lines_per_cpu_s": round(n / cpu),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "load": f"{load0} -> {_load()}"}


def cmd_mining(args) -> None:
    rows = []
    for which in ("stock", "scale"):
        p = subprocess.run([sys.executable, __file__, "_mine", args.path, which], capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(p.stderr[-3000:])
        rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
    print("| pass one over " + Path(args.path).name + " | lines | Drain3 clusters | distinct template texts | wall s | "
          "CPU s | lines/s | lines / CPU-s | peak RSS MB | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    names = {"stock": "before: logs.reader.iter_lines + logs.templates.TemplateGrouper",
             "scale": "after: scale.scan_stream (fast reader, fast masker, one-token fix)"}
    for r in rows:
        print(f"| {names[r['which']]} | {r['lines']:,} | {r['clusters']:,} | {r['template_texts']:,} | {r['wall_s']} | "
              f"{r['cpu_s']} | {r['lines_per_s']:,} | {r['lines_per_cpu_s']:,} | {r['peak_rss_mb']:.0f} | "
              f"{r['load']} |")


def cmd_local(args) -> None:
    path = LOGHUB / args.system / f"{args.system}_2k.log"
    row = run_child([str(path), "--model", args.model, "--program", args.program])
    print(json.dumps(row, indent=2), file=sys.stderr)
    spc = row.get("s_per_call")
    print("| system | model | program | lines | templates | model calls | s per call | reasoning s | total s | "
          "lines/s | est. before: per-line calls x s/call | answers | peak RSS MB | load |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    est = f"{row['naive_calls'] * spc / 3600:.1f} h" if spc else "-"
    print(f"| {args.system} | {args.model} | {args.program} | {_fmt(row['lines'])} | {row['templates']} | "
          f"{row['model_calls']} | {spc} | {row['reasoning_seconds']:.0f} | {row['wall_s']:.0f} | "
          f"{row['lines_per_s']:.1f} | {est} | {row['counts']} | {row['peak_rss_mb']:.0f} | "
          f"{row['load_before']} -> {row['load_after']} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("loghub")
    a.add_argument("--systems", default=",".join(SYSTEMS))
    a.add_argument("--program", default="direct")
    a.add_argument("--json", default=None)
    b = sub.add_parser("synthetic")
    b.add_argument("path")
    b.add_argument("--program", default="direct")
    b.add_argument("--out", default=None, help="per-line JSONL (default: a temp file)")
    c = sub.add_parser("local")
    c.add_argument("--system", default="HDFS")
    c.add_argument("--model", default="local")
    c.add_argument("--program", default="direct")
    m = sub.add_parser("mining")
    m.add_argument("path")
    mm = sub.add_parser("_mine")
    mm.add_argument("path")
    mm.add_argument("which", choices=["stock", "scale"])
    o = sub.add_parser("_one")
    o.add_argument("path")
    o.add_argument("--model", default="counting")
    o.add_argument("--program", default="direct")
    o.add_argument("--window", type=int, default=None)
    o.add_argument("--split", action="store_true")
    o.add_argument("--repeat-cached", action="store_true")
    o.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.cmd == "_one":
        row = measure(args.path, model=args.model, program=args.program, window=args.window, split=args.split,
                      out=args.out, repeat_cached=args.repeat_cached)
        print(json.dumps(row))
    elif args.cmd == "_mine":
        print(json.dumps(mining_child(args.path, args.which)))
    elif args.cmd == "mining":
        cmd_mining(args)
    elif args.cmd == "loghub":
        cmd_loghub(args)
    elif args.cmd == "synthetic":
        cmd_synthetic(args)
    else:
        cmd_local(args)


if __name__ == "__main__":
    main()
