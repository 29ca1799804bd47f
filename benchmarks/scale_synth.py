"""Write a large synthetic log by replaying Loghub-2k templates with new random parameters.

Each output line is a real Loghub line (any of the 12 systems, chosen uniformly) whose template parameters are
replaced: numbers get fresh random numbers of the same length, other parameters (ids, addresses, paths) keep
their letters and get random digits (and random hex digits in hex ids); the header (timestamp, pid, node) gets
random digits in the same way. Parameters come from aligning each line's corrected template
(``*_structured_corrected.csv``) with its content; lines whose template does not align get digit mutation only.

    python benchmarks/scale_synth.py --lines 1000000 --out /tmp/scale_1m.log      # ~25 s; ~170 MB

Prints the number of distinct ground-truth templates replayed (the "true" template count of the file) and
writes it with the settings beside the log (``<out>.json``). Needs ../shared/data/loghub-2k (not in the repo).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import time
from pathlib import Path

LOGHUB = Path(os.environ.get("LOGREASONER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) \
    / "loghub-2k"
SYSTEMS = ["Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "OpenSSH", "Spark", "Thunderbird",
           "Windows", "Zookeeper"]
_HEXLIKE = re.compile(r"^[0-9a-fA-F]{4,}$")


def _template_regex(template: str) -> re.Pattern | None:
    parts = [re.escape(p) for p in template.split("<*>")]
    try:
        return re.compile("^" + "(.*?)".join(parts) + "$", re.DOTALL)
    except re.error:
        return None


def load_rows(system: str) -> list[tuple[str, str, list[str] | None, str]]:
    """(header, template, params or None, content) per line of a Loghub-2k system."""
    folder = LOGHUB / system
    raw = (folder / f"{system}_2k.log").read_text(encoding="utf-8", errors="replace").splitlines()
    with open(folder / f"{system}_2k.log_structured_corrected.csv", encoding="utf-8", errors="replace",
              newline="") as f:
        rows = list(csv.DictReader(f))
    regexes: dict[str, re.Pattern | None] = {}
    out = []
    for line, row in zip(raw, rows):
        content, template = row["Content"], row["EventTemplate"]
        cut = line.rfind(content) if content else -1
        header = line[:cut] if cut >= 0 else None
        if header is None:
            out.append((line, template, None, ""))  # content not found verbatim: mutate the whole line
            continue
        rx = regexes.get(template)
        if template not in regexes:
            rx = regexes[template] = _template_regex(template)
        m = rx.match(content) if rx is not None else None
        out.append((header, template, list(m.groups()) if m else None, content))
    return out


class Mutator:
    """New random parameter values with the shape of the old ones."""

    def __init__(self, rng: random.Random, tables: int = 4096) -> None:
        self.rng = rng
        digits = "0123456789"
        self.digit_tables = [str.maketrans(digits, "".join(rng.choice(digits) for _ in digits)) for _ in range(tables)]
        hexd = "0123456789abcdefABCDEF"
        self.hex_tables = [str.maketrans(hexd, "".join(rng.choice("0123456789abcdef") for _ in range(16))
                                         + "".join(rng.choice("0123456789ABCDEF") for _ in range(6)))
                           for _ in range(tables)]

    def digits(self, s: str) -> str:
        return s.translate(self.rng.choice(self.digit_tables))

    def param(self, v: str) -> str:
        if v.isdigit():
            n = len(v)
            if n == 1:
                return str(self.rng.randrange(10))
            return str(self.rng.randrange(10 ** (n - 1), 10 ** n))
        if _HEXLIKE.match(v) and any(c.isdigit() for c in v):
            return v.translate(self.rng.choice(self.hex_tables))
        return self.digits(v)


def generate(n: int, out: Path, seed: int = 0, systems: list[str] | None = None) -> dict:
    rng = random.Random(seed)
    mut = Mutator(rng)
    pool = []
    for s in systems or SYSTEMS:
        pool += [(s, r) for r in load_rows(s)]
    used: set[tuple[str, str]] = set()
    aligned = sum(1 for _, r in pool if r[2] is not None)
    t0 = time.perf_counter()
    with open(out, "w", encoding="utf-8") as f:
        buf = []
        for i in range(n):
            system, (header, template, params, content) = pool[rng.randrange(len(pool))]
            used.add((system, template))
            if params is None:
                line = mut.digits(header + content)
            else:
                pieces = template.split("<*>")
                body = [pieces[0]]
                for p, rest in zip(params, pieces[1:]):
                    body.append(mut.param(p))
                    body.append(rest)
                line = mut.digits(header) + "".join(body)
            buf.append(line.replace("\n", " ").replace("\r", " "))
            if len(buf) >= 10000:
                f.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            f.write("\n".join(buf) + "\n")
    info = {"lines": n, "seed": seed, "systems": systems or SYSTEMS, "templates_replayed": len(used),
            "rows_in_pool": len(pool), "rows_aligned_with_template": aligned, "bytes": out.stat().st_size,
            "seconds": round(time.perf_counter() - t0, 1)}
    Path(str(out) + ".json").write_text(json.dumps(info, indent=2))
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--out", default="/tmp/scale_1m.log")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--systems", default=None, help="comma-separated subset of the 12 systems")
    args = ap.parse_args()
    info = generate(args.lines, Path(args.out), args.seed, args.systems.split(",") if args.systems else None)
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
