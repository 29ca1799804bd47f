"""What the student's training and held-back data rest on: stratified samples, window records that share their
lines' split, the majority and echo baselines, degenerate outputs counted in a cell."""

from __future__ import annotations

from collections import Counter

from logreasoner.evals import load_dataset
from logreasoner.evals.baselines import build_baseline
from logreasoner.evals.datasets import stratified_head
from logreasoner.evals.scoring import summarize


def test_stratified_head_keeps_each_answers_share():
    items = [("a", i) for i in range(90)] + [("b", i) for i in range(10)]
    items.sort(key=lambda t: (t[1] * 37) % 101)  # some stable shuffle
    got = stratified_head(items, 20, key=lambda t: t[0])
    assert Counter(t[0] for t in got) == {"a": 18, "b": 2}
    assert got == [t for t in items if t in got]  # the given order is kept
    rare = [("a", i) for i in range(99)] + [("b", 0)]
    assert Counter(t[0] for t in stratified_head(rare, 10, key=lambda t: t[0]))["b"] == 1
    free = [(str(i), i) for i in range(200)]  # free text: no strata, the head of the order
    assert stratified_head(free, 5, key=lambda t: t[0]) == free[:5]


def test_limit_samples_are_stratified_and_stable():
    a = load_dataset("loginstruct_is_error", split="test", limit=50)
    b = load_dataset("loginstruct_is_error", split="test", limit=50)
    full = load_dataset("loginstruct_is_error", split="test")
    assert [e.meta["id"] for e in a] == [e.meta["id"] for e in b]
    share = Counter(e.answer for e in full)["abnormal"] / len(full)
    assert abs(Counter(e.answer for e in a)["abnormal"] / 50 - share) <= 0.03


def test_window_records_never_share_a_line_with_another_split():
    lines = {sp: {e.log for e in load_dataset("bgl_anomaly", split=sp)} for sp in ("train", "dev", "test")}
    for sp in ("train", "dev", "test"):
        windows = load_dataset("loghub_window_anomaly", split=sp)
        assert windows
        others = set().union(*(v for k, v in lines.items() if k != sp))
        for w in windows:
            assert not (set(w.log.split("\n")) & others)
            bad = w.meta["abnormal_lines"]
            assert (w.answer == "abnormal") == bool(bad)
            assert all(1 <= n <= w.meta["lines"] for n in bad)


def test_majority_and_echo_baselines():
    maj = build_baseline("majority", "anomaly")
    assert maj(log="x", meta={"dataset": "bgl_anomaly"}).answer.verdict == "normal"
    diag = build_baseline("majority", "diagnosis")
    out = diag(log="x", labels=["KERNSTOR", "APPSEV"], meta={"dataset": "bgl_alert_diagnosis"})
    assert out.answer.label in ("KERNSTOR", "APPSEV")
    echo = build_baseline("echo", "interpret")
    assert echo(log="disk  full\non /var").answer.explanation == "disk full on /var"


def test_summary_counts_degenerate_outputs():
    samples = [{"gold": "abnormal", "pred": "abnormal", "score": 1.0, "degenerate": ["repeated_items"]},
               {"gold": "normal", "pred": "normal", "score": 1.0, "degenerate": []},
               {"gold": "normal", "pred": None, "score": 0.0}]
    s = summarize("anomaly", samples, n_resamples=0)
    assert s["degenerate"] == 1 and abs(s["degenerate_rate"] - 1 / 3) < 1e-9
    assert s["degenerate_reasons"] == {"repeated_items": 1} and s["format_failures"] == 1
