"""A finetune stage of your own, in one place: a data card of the SFT rows, written after `sft-data`.

It counts the rows the student will be trained on per kind, task and teacher (and how many are hinted), their
token lengths per kind, and the most frequent gold answers per task, into `data-card/card.json` and
`data-card/card.md`. Like a built-in stage it is skipped while current, recorded in state.json, and run again
when `sft-data` runs again or its `[stages.data-card]` table changes:

    [stages.data-card]
    percentiles = [50, 90]
    top_answers = 3

Run it with the pipeline (`Pipeline(cfg).run()`, or `run(["data-card"])`), or from the command line:
`python examples/custom_stage.py data-card --config finetune.toml` (the `logreasoner finetune` commands, this stage
among them).
"""

import json
import math
from collections import Counter
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from logreasoner.errors import ConfigError
from logreasoner.finetune import Stage, register_stage


class DataCardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key in [stages.data-card] is an error

    percentiles: list[Annotated[int, Field(ge=1, le=100)]] = Field([50, 90], description="token-length percentiles")
    top_answers: int = Field(3, ge=0, description="most frequent gold answers listed per task")


def _percentile(values: list[int], q: int) -> int:
    """Nearest-rank percentile of sorted ``values``."""
    return values[max(0, math.ceil(q / 100 * len(values)) - 1)]


def data_card(pipeline, settings: DataCardSettings, out_dir: Path) -> dict:
    """The stage: reads the rows `sft-data` wrote, writes the card into `out_dir`, returns what state.json keeps."""
    data = pipeline.out_dir("sft-data")
    rows = {kind: [json.loads(line) for line in (data / f"{kind}.jsonl").read_text(encoding="utf-8").splitlines()]
            for kind in pipeline.cfg.sft_data.kinds if (data / f"{kind}.jsonl").is_file()}
    if not rows:
        raise ConfigError(f"no SFT rows in {data}", "run the 'sft-data' stage first")
    groups = Counter((kind, r["task"], r["source"]) for kind, rs in rows.items() for r in rs)
    hinted = Counter((kind, r["task"], r["source"]) for kind, rs in rows.items() for r in rs if r["hinted"])
    tokens = {kind: sorted(r["n_tokens"] for r in rs) for kind, rs in rows.items() if rs}
    examples = {r["id"]: r for rs in rows.values() for r in rs}  # one example feeds a row of each kind
    answers: dict[str, Counter] = {}
    for r in examples.values():
        answers.setdefault(r["task"], Counter())[r["gold"]] += 1
    top = {task: sorted(c.items(), key=lambda an: (-an[1], an[0]))[: settings.top_answers]
           for task, c in sorted(answers.items())}
    card = {
        "rows": [{"kind": k, "task": t, "source": s, "rows": n, "hinted": hinted[k, t, s]}
                 for (k, t, s), n in sorted(groups.items())],
        "tokens": {k: {**{f"p{q}": _percentile(v, q) for q in settings.percentiles}, "max": v[-1]}
                   for k, v in tokens.items()},
        "answers": {task: [{"answer": a, "examples": n} for a, n in best] for task, best in top.items()},
    }
    (out_dir / "card.json").write_text(json.dumps(card, indent=1), encoding="utf-8")
    md = [f"# SFT data card: {pipeline.run_dir.name}", "", "| kind | task | source | rows | hinted |",
          "|---|---|---|---|---|"]
    md += [f"| {r['kind']} | {r['task']} | {r['source']} | {r['rows']} | {r['hinted']} |" for r in card["rows"]]
    cols = [*(f"p{q}" for q in settings.percentiles), "max"]
    md += ["", "| kind | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    md += [f"| {k} | " + " | ".join(str(v[c]) for c in cols) + " |" for k, v in card["tokens"].items()]
    md += ["", "| task | answer | examples |", "|---|---|---|"]
    md += [f"| {t} | {a['answer']} | {a['examples']} |" for t, top in card["answers"].items() for a in top]
    (out_dir / "card.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    return {"rows": sum(groups.values()), "examples": len(examples),
            "by_kind": {k: len(rs) for k, rs in rows.items()}, "card": str(out_dir / "card.md")}


DATA_CARD = register_stage(
    Stage("data-card", data_card, "Rows per kind, task and teacher, token lengths and top answers of the SFT data.",
          inputs=("sft-data",), outputs="data-card", config_model=DataCardSettings),
    after="sft-data",
    replace=True,
)

if __name__ == "__main__":
    from logreasoner.finetune.cli import app

    app()
