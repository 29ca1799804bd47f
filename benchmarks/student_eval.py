"""benchmarks/STUDENT.md from one command: the distilled student on held-back test splits, stage by stage, program
by program, beside trivial baselines.

    python benchmarks/student_eval.py --run-dir runs/student --out runs/student-eval       # every part, resumable
    python benchmarks/student_eval.py --run-dir runs/student --out runs/student-eval --table  # print the tables

Parts (each an evals run folder under ``--out``, resumed when run again; ``--parts`` picks some):

- ``baselines``  majority (train split), keyword, level, Drain3, echo — every dataset at the full size.
- ``final``      the final student (the run folder: base + DPO adapter) with ``direct`` and ``coarse_to_fine``
                 at the full size: every test example of ``bgl_anomaly`` (natural prevalence), a stratified 100
                 of the larger splits, every example of the smaller ones.
- ``stages``     base, +thought SFT, +stepwise SFT with ``coarse_to_fine`` on a stratified 24 per dataset (+DPO
                 is read from ``final`` on the same examples).
- ``cot``        the final student with ``cot`` on the stratified 24.

Only ``test`` splits are read; no stage of the recipe ever sees them. Intervals are bootstrap 95% (evals runner).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DATASETS = ["bgl_anomaly", "loghub_window_anomaly", "loglm_anomaly", "loginstruct_is_error", "bgl_alert_diagnosis",
            "loginstruct_alarm_cause", "loghub_parse", "loglm_parse", "loglm_rca", "loglm_solution",
            "loglm_interpret", "loginstruct_main_issue"]
FULL_ALL = ["bgl_anomaly"]           # every test example (natural prevalence)
FULL_LIMIT = 100                     # the rest: stratified 100 (or the whole split when smaller)
SMALL_LIMIT = 24
BASELINES = ["majority", "keyword", "level", "drain3", "echo"]


def _groups(limit_rest: int | None) -> list[tuple[str, list[str], int | None]]:
    rest = [d for d in DATASETS if d not in FULL_ALL]
    if limit_rest == SMALL_LIMIT:
        return [("small", DATASETS, SMALL_LIMIT)]
    return [("all", FULL_ALL, None), ("rest", rest, limit_rest)]


def _run(out: Path, datasets: list[str], programs: list[str], models: list[str], limit: int | None,
         workers: int) -> None:
    from logreasoner.evals.runner import RunConfig, run_eval

    cfg = RunConfig(datasets=datasets, programs=programs, models=models, split="test", limit=limit,
                    local_workers=workers, plots=False, cache=False)
    resume = (out / "config.json").is_file()
    run_eval(cfg if not resume else None, out, resume=resume)


def run_parts(run_dir: Path, out: Path, parts: list[str], workers: int, limit: int | None = None,
              programs: list[str] | None = None, stages: list[str] | None = None) -> None:
    from logreasoner.finetune import load_config
    from logreasoner.finetune.pipeline import Pipeline

    cfg = load_config(run_dir / "config.toml") if (run_dir / "config.toml").is_file() else None
    if cfg is None:
        from logreasoner.finetune.config import FinetuneConfig

        cfg = FinetuneConfig.model_validate(json.loads((run_dir / "config.json").read_text()))
    p = Pipeline(cfg, progress=False)
    final = str(run_dir)
    if "baselines" in parts:
        for name, ds, lim in _groups(FULL_LIMIT):
            _run(out / f"baselines-{name}", ds, BASELINES, [], lim, 1)
    if "final" in parts:
        progs = programs or ["coarse_to_fine", "direct"]
        if limit:  # a smaller budget: a stratified ``limit`` of every dataset (bgl_anomaly at its prevalence)
            for prog in progs:
                _run(out / f"final-{prog}-{limit}", DATASETS, [prog], [final], limit, workers)
        else:
            for name, ds, lim in _groups(FULL_LIMIT):
                _run(out / f"final-{name}", ds, progs, [final], lim, workers)
    if "stages" in parts:
        for variant in stages or ["base", "thought", "stepwise"]:  # one folder each: a budget may stop between
            _run(out / f"stages-{variant}", DATASETS, ["coarse_to_fine"], [p.stage_model(variant)],
                 limit or SMALL_LIMIT, workers)
    if "cot" in parts:
        _run(out / "cot", DATASETS, ["cot"], [final], SMALL_LIMIT, workers)


# ------------------------------------------------------------------------------------------------ tables
def _samples(out: Path) -> list[dict]:
    rows = []
    for f in sorted(out.glob("*/samples.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def _label(model: str, run_dir: Path) -> str:
    m = model.rstrip("/")
    if m in ("-", ""):
        return "-"
    if m == str(run_dir).rstrip("/"):
        return "+DPO (final)"
    if m.endswith("sft-thought"):
        return "+thought SFT"
    if m.endswith("sft-stepwise"):
        return "+stepwise SFT"
    if m in ("local-base", "local", "smollm2-135m"):
        return "base"
    return Path(m).name


def _cell(task: str, recs: list[dict]) -> dict:
    from logreasoner.evals import scoring

    s = scoring.summarize(task, recs, n_resamples=1000)
    s["s_per_example"] = sum(r.get("latency_s", 0.0) for r in recs) / max(1, len(recs))
    s["shown_metric"] = SHOWN_METRIC.get(task, s["primary_metric"])
    return s


SHOWN_METRIC = {"parse": "parsing_accuracy"}  # template exact match per line: the parsing criterion


def _fmt(c: dict | None, *, rates: bool = False) -> str:
    if not c or not c.get("n"):
        return "—"
    name = c.get("shown_metric") or c.get("primary_metric")
    score, ci = c["metrics"].get(name), (c.get("ci") or {}).get(name) or [None, None]
    text = f"{score:.3f}" if score is not None else "—"
    if ci and None not in ci and ci[0] == ci[0]:
        text += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    if rates:
        text += f" · ff {c['format_failure_rate']:.0%} · dg {c.get('degenerate_rate', 0):.0%}"
    return text


def tables(run_dir: Path, out: Path) -> str:
    from logreasoner.evals import get_dataset
    from logreasoner.evals.scoring import primary_metric

    recs = _samples(out)
    by: dict[tuple[str, str, str], list[dict]] = {}
    for r in recs:
        by.setdefault((r["dataset"], r["program"], _label(r["model"], run_dir)), []).append(r)
    small_ids: dict[str, set[str]] = {}
    for (ds, prog, model), rs in by.items():
        if model in ("base", "+thought SFT", "+stepwise SFT") and prog == "coarse_to_fine":
            small_ids.setdefault(ds, set()).update(r["id"] for r in rs)
    final_ids: dict[str, set[str]] = {}
    for (ds, prog, model), rs in by.items():
        if model == "+DPO (final)" and prog in ("coarse_to_fine", "direct"):
            final_ids.setdefault(ds, set()).update(r["id"] for r in rs)
    lines = ["## Held-back test splits: the final student (+DPO) by program, beside the baselines", "",
             "Score [bootstrap 95% interval] · ff = format failures · dg = degenerate outputs. n = examples the "
             "student answered; the baselines are scored on the same examples.", "",
             "| dataset | metric | n | coarse-to-fine | direct | majority | keyword | level | Drain3 | echo |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for ds in DATASETS:
        task = get_dataset(ds).task
        c2f = by.get((ds, "coarse_to_fine", "+DPO (final)"))
        d = by.get((ds, "direct", "+DPO (final)"))
        cells = [_fmt(_cell(task, c2f), rates=True) if c2f else "—", _fmt(_cell(task, d), rates=True) if d else "—"]
        for b in BASELINES:
            rs = by.get((ds, b, "-"))
            if rs and ds in final_ids:
                rs = [r for r in rs if r["id"] in final_ids[ds]]
            cells.append(_fmt(_cell(task, rs)) if rs else "")
        n = (f"{len(c2f)} / {len(d)}" if c2f and d and len(c2f) != len(d)
             else len(c2f or d or next((by[k] for k in by if k[0] == ds), [])))
        lines.append(f"| {ds} | {SHOWN_METRIC.get(task, primary_metric(task))} | {n} | " + " | ".join(cells) + " |")
    lines += ["", "## Stage by stage, coarse-to-fine (the stages' stratified sample; +DPO on the same examples)", "",
              "| dataset | metric | n | base | +thought SFT | +stepwise SFT | +DPO (final) | CoT (final) |",
              "|---|---|---|---|---|---|---|---|"]
    for ds in DATASETS:
        task = get_dataset(ds).task
        ids = small_ids.get(ds)
        row = []
        for model in ("base", "+thought SFT", "+stepwise SFT", "+DPO (final)"):
            rs = by.get((ds, "coarse_to_fine", model)) or []
            if ids is not None:
                rs = [r for r in rs if r["id"] in ids]
            row.append(_fmt(_cell(task, rs), rates=True) if rs else "—")
        cot = by.get((ds, "cot", "+DPO (final)"))
        row.append(_fmt(_cell(task, cot), rates=True) if cot else "—")
        lines.append(f"| {ds} | {SHOWN_METRIC.get(task, primary_metric(task))} | {len(ids or [])} | "
                     + " | ".join(row) + " |")
    lines += ["", "## Seconds per example (the final student; 2 in-process workers of 1 thread each)", "",
              "| dataset | coarse-to-fine | direct | CoT | base c2f |", "|---|---|---|---|---|"]
    for ds in DATASETS:
        task = get_dataset(ds).task
        vals = []
        for prog, model in (("coarse_to_fine", "+DPO (final)"), ("direct", "+DPO (final)"), ("cot", "+DPO (final)"),
                            ("coarse_to_fine", "base")):
            rs = by.get((ds, prog, model))
            vals.append(f"{_cell(task, rs)['s_per_example']:.2f}" if rs else "—")
        lines.append(f"| {ds} | " + " | ".join(vals) + " |")
    allrecs = [r for r in recs if r["model"] not in ("-",)]
    for label in ("+DPO (final)", "base"):
        mine = [r for r in allrecs if _label(r["model"], run_dir) == label]
        if mine:
            ff = sum(1 for r in mine if r.get("pred") is None and not r.get("error")) / len(mine)
            dg = sum(1 for r in mine if r.get("degenerate")) / len(mine)
            lines.append(f"\n{label}: {len(mine)} answers in all, format failures {ff:.1%}, degenerate {dg:.1%}.")
    return "\n".join(lines) + "\n"


def held_back_scores(run_dir: Path, out: Path) -> dict:
    """The final student's held-back scores per dataset and program (for the shipped model's card)."""
    from logreasoner.evals import get_dataset

    by: dict[tuple[str, str], list[dict]] = {}
    for r in _samples(out):
        if _label(r["model"], run_dir) == "+DPO (final)":
            by.setdefault((r["dataset"], r["program"]), []).append(r)
    scores: dict[str, dict] = {}
    for (ds, prog), rs in sorted(by.items()):
        task = get_dataset(ds).task
        c = _cell(task, rs)
        name = c["shown_metric"]
        scores.setdefault(ds, {})[prog] = {name: round(c["metrics"][name], 4), "n": c["n"],
                                           "format_failure_rate": round(c["format_failure_rate"], 4),
                                           "degenerate_rate": round(c.get("degenerate_rate", 0.0), 4)}
    return scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default="runs/student")
    ap.add_argument("--out", default="runs/student-eval")
    ap.add_argument("--parts", default="baselines,final,stages,cot")
    ap.add_argument("--workers", type=int, default=2, help="in-process model copies answering in parallel")
    ap.add_argument("--limit", type=int, default=None,
                    help="a smaller budget: the final part on a stratified LIMIT of every dataset instead of the full "
                         "sizes; the stages part on LIMIT instead of 24")
    ap.add_argument("--programs", default=None, help="final part: these programs (default coarse_to_fine,direct)")
    ap.add_argument("--stages", default=None, help="stages part: these variants (default base,thought,stepwise)")
    ap.add_argument("--table", action="store_true", help="only print the tables from what has run")
    ap.add_argument("--scores", default=None, help="also write the final student's held-back scores (JSON)")
    args = ap.parse_args()
    run_dir, out = Path(args.run_dir).resolve(), Path(args.out).resolve()
    if not args.table:
        progs = [p.strip() for p in args.programs.split(",")] if args.programs else None
        stages = [p.strip() for p in args.stages.split(",")] if args.stages else None
        run_parts(run_dir, out, [p.strip() for p in args.parts.split(",")], args.workers, args.limit, progs, stages)
    text = tables(run_dir, out)
    (out / "tables.md").write_text(text)
    if args.scores:
        Path(args.scores).write_text(json.dumps(held_back_scores(run_dir, out), indent=1) + "\n")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
