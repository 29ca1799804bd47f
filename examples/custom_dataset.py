"""A custom eval dataset in one place: a loader that returns labelled records, registered under a name.

This one is the kernel messages of Loghub's BGL_2k sample (bundled with the evals) with their real labels:
Loghub marks every alert line with its alert category, every other line with '-'. Once registered, the name
works everywhere a dataset is named: `run_eval(RunConfig(datasets=[...]))`, suites, `finetune` recipes
(`[[datasets]] name = ...`). For the CLI (`logreasoner eval run --dataset bgl_kernel_anomaly`), expose
`DATASET` under the `logreasoner.datasets` entry point of your package. A file of your own rows needs no code:
`logreasoner eval run --data rows.jsonl --task anomaly`.
"""

from logreasoner.evals.datasets import DatasetSpec, register_dataset
from logreasoner.evals.paths import bundled_data_dir
from logreasoner.evals.sources import Record, read_loghub_system


def kernel_records() -> list[Record]:
    """BGL_2k lines of the KERNEL component: label '-' is normal, an alert category abnormal."""
    out = []
    for row in read_loghub_system(bundled_data_dir() / "loghub-2k", "BGL"):
        if row.get("Component") != "KERNEL":
            continue
        label = row["Label"].strip()
        message = row["RawLine"].split(" ", 1)[1] if " " in row["RawLine"] else row["RawLine"]  # drop the label
        out.append(Record(id=f"BGL:{row['LineId']}", log=message, answer="normal" if label == "-" else "abnormal",
                          meta={"line_id": int(row["LineId"]), "level": row.get("Level")},
                          split_key=row["Content"]))  # identical messages stay in one split
    return out


DATASET = register_dataset(
    DatasetSpec("bgl_kernel_anomaly", "anomaly", "Loghub BGL_2k KERNEL lines, normal / abnormal",
                source="Loghub (Zhu et al., ISSRE 2023), https://github.com/logpai/loghub",
                licence="Loghub licence (research use, keep notice, cite)", bundled=True, loader=kernel_records),
    replace=True,
)

if __name__ == "__main__":
    from logreasoner.evals.runner import RunConfig, run_eval

    results = run_eval(RunConfig(datasets=["bgl_kernel_anomaly"], programs=["level", "keyword"], plots=False),
                       "runs/bgl-kernel", progress=False)
    for cell in results["cells"]:
        print(cell["program"], cell["dataset"], cell["n"], cell["score"])
