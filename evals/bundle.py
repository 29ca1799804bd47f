"""Rebuild the bundled eval data (``evals/data``) from the shared development data folder.

Only data whose licence allows redistribution is bundled, each with its licence or attribution beside it:

- Loghub-2k (12 systems): corrected structured CSVs and raw logs, gzip-compressed, with the Loghub ``LICENSE``;
- LogLM instructions (Apache-2.0) with its ``LICENSE``;
- a de-duplicated, hash-sampled subset of LogInstruct (MIT): alarm cause, is-error, main issue.

Run ``python -m logreasoner.evals.bundle [SHARED_DATA_DIR]``; the output is byte-for-byte reproducible.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
from pathlib import Path

from logreasoner.errors import InputError
from logreasoner.evals.paths import bundled_data_dir, shared_data_dir

__all__ = ["build_bundle", "LOGHUB_SYSTEMS", "LOGINSTRUCT_SUBSETS", "LOGINSTRUCT_LIMIT"]

LOGHUB_SYSTEMS = (
    "Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop",
    "HealthApp", "OpenSSH", "Spark", "Thunderbird", "Windows", "Zookeeper",
)
# bundled name -> (shared folder, file prefix)
LOGINSTRUCT_SUBSETS = {
    "alarm_cause": ("cause", "alarm_"),
    "is_error": ("failure", "error_test_"),
    "main_issue": ("LI", "main_"),
}
LOGINSTRUCT_LIMIT = 1000

_LOGINSTRUCT_NOTICE = """# LogInstruct subset

Source: LogInstruct, "Knowledge-Driven Instruction Synthesis for Enhancing LLM-Based Log Analysis",
https://github.com/LeaperOvO/LogInstruct-Review (folder `tasks/`). Its README states: "License: MIT License".
The log entries come from Huawei's public product documentation (Huawei enterprise support).

What is here: for each task a subset of the Huawei files (`*hw*.json`): records de-duplicated by input (inputs
with conflicting outputs dropped), then the first {limit} by a SHA-256 hash of the input (a stable, unbiased
sample). Built by `python -m logreasoner.evals.bundle`.

| file | LogInstruct task | output |
|---|---|---|
| alarm_cause.jsonl.gz | `cause` (alarm type) | one of 6 alarm classes |
| is_error.jsonl.gz | `failure` (is-error) | True / False |
| main_issue.jsonl.gz | `LI` (main issue) | a short explanation |

MIT License

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and
to permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions
of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO
THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
IN THE SOFTWARE.
"""

_LOGHUB_NOTICE = """# Loghub-2k (12 systems)

From Loghub, https://github.com/logpai/loghub (see `LICENSE` in this folder: research and academic use, keep the
notice, cite the Loghub paper). The `*_structured_corrected.csv` ground-truth templates are the community
corrections distributed with LogBatcher (MIT). Files are gzip-compressed copies of `<System>_2k.log` and
`<System>_2k.log_structured_corrected.csv`.

Loghub is widely used: base language models have likely seen these logs (and perhaps their templates) in
pre-training. Report that risk beside any score measured on them.
"""


def _write_gz(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(data)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _loginstruct_subset(folder: Path, prefix: str, limit: int) -> list[dict]:
    files = sorted(p for p in folder.glob(f"{prefix}hw*.json"))
    if not files:
        raise InputError(f"no {prefix}hw*.json files in {folder}", "check the shared LogInstruct folder")
    by_input: dict[str, dict] = {}
    conflicting: set[str] = set()
    for f in files:
        for i, rec in enumerate(json.loads(f.read_text(encoding="utf-8"))):
            text, out = str(rec.get("input", "")).strip(), str(rec.get("output", "")).strip()
            if not text or not out:
                continue
            prev = by_input.get(text)
            if prev is None:
                by_input[text] = {"id": f"{f.name}:{i}", "source_file": f.name, "input": text, "output": out}
            elif prev["output"] != out:
                conflicting.add(text)
    rows = [r for t, r in by_input.items() if t not in conflicting]
    rows.sort(key=lambda r: _sha(r["input"]))
    return rows[:limit]


def build_bundle(shared: Path | None = None, out: Path | None = None, loginstruct_limit: int = LOGINSTRUCT_LIMIT) -> Path:
    """Write the bundled data folder from the shared data; returns the folder."""
    shared = Path(shared) if shared else shared_data_dir()
    out = Path(out) if out else bundled_data_dir()
    # Loghub-2k
    lh_src, lh_out = shared / "loghub-2k", out / "loghub-2k"
    for system in LOGHUB_SYSTEMS:
        for name in (f"{system}_2k.log", f"{system}_2k.log_structured_corrected.csv"):
            src = lh_src / system / name
            if not src.is_file():
                raise InputError(f"missing {src}", "the shared Loghub-2k folder must hold all 12 systems")
            _write_gz(lh_out / system / f"{name}.gz", src.read_bytes())
    shutil.copyfile(lh_src / "LICENSE", lh_out / "LICENSE")
    (lh_out / "NOTICE.md").write_text(_LOGHUB_NOTICE, encoding="utf-8")
    # LogLM
    lm_out = out / "loglm"
    _write_gz(lm_out / "instructions.jsonl.gz", (shared / "loglm" / "instructions.jsonl").read_bytes())
    shutil.copyfile(shared / "loglm" / "LICENSE", lm_out / "LICENSE")
    # LogInstruct
    li_out = out / "loginstruct"
    for name, (folder, prefix) in LOGINSTRUCT_SUBSETS.items():
        rows = _loginstruct_subset(shared / "loginstruct" / folder, prefix, loginstruct_limit)
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
        _write_gz(li_out / f"{name}.jsonl.gz", data)
    (li_out / "NOTICE.md").write_text(_LOGINSTRUCT_NOTICE.replace("{limit}", str(loginstruct_limit)), encoding="utf-8")
    return out


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    print(build_bundle(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
