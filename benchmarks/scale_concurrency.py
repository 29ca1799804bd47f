"""Concurrency for remote models: wall time of reasoning over N templates at several bounds.

A counting model with a fixed latency per request stands in for a remote API (no network here). The bound is
the ``concurrency`` setting (``LOGREASONER_SCALE_CONCURRENCY``, ``--concurrency``); the table shows the most
requests the model ever had in flight, which never exceeds it.

    python benchmarks/scale_concurrency.py --templates 64 --latency 0.2
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--templates", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--bounds", default="1,4,8,16,32")
    args = ap.parse_args()
    from logreasoner.scale import ReasonItem, TemplateReasoner
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scale"))  # the test fake
    from scale_fakes import counting_lm

    items = [ReasonItem(f"template {i} <NUM>", f"2024-01-01 00:00:00 INFO event {i} happened") for i in range(args.templates)]
    print(f"{args.templates} templates, {args.latency * 1000:.0f} ms per request; load average "
          f"{os.getloadavg()[0]:.2f}")
    print("| concurrency bound | wall s | requests | most in flight | speed-up |")
    print("|---:|---:|---:|---:|---:|")
    base = None
    for b in (int(x) for x in args.bounds.split(",")):
        lm = counting_lm(delay=args.latency)
        r = TemplateReasoner("direct", lm, cache=None, concurrency=b)
        t0 = time.perf_counter()
        r.run(items)
        dt = time.perf_counter() - t0
        base = base or dt
        print(f"| {b} | {dt:.2f} | {lm.engine.calls} | {lm.engine.max_in_flight} | {base / dt:.1f}x |")


if __name__ == "__main__":
    main()
