"""Report tables: every score with its 95% bootstrap interval and n; cells too small to compare are marked."""

import json

from logreasoner.evals.report import (MAX_CI_WIDTH_TO_COMPARE, MIN_N_TO_COMPARE, SMALL_MARK, compare_runs,
                                      fmt_score, score_table, too_small_to_compare)
from logreasoner.evals.scoring import summarize


def _cell(program, dataset, samples, task="diagnosis", n_resamples=500):
    s = summarize(task, samples, n_resamples=n_resamples, seed=0)
    return {"program": program, "model": "-", "dataset": dataset, "task": task, "planned": len(samples),
            "done": len(samples), "complete": True, **s}


def _samples(n_right, n_wrong):
    return ([{"gold": "a", "pred": "a", "score": 1.0}] * n_right + [{"gold": "a", "pred": "b", "score": 0.0}] * n_wrong)


def test_every_score_shows_its_interval_and_n():
    cell = _cell("p", "d", _samples(180, 20))
    text = fmt_score(cell)
    assert text.startswith("0.900 [") and "n=200" in text and SMALL_MARK not in text
    lo, hi = cell["score_ci"]
    assert lo < 0.9 < hi and hi - lo < MAX_CI_WIDTH_TO_COMPARE
    assert too_small_to_compare(cell) is None


def test_small_n_is_marked_even_with_a_narrow_interval():
    cell = _cell("p", "d", _samples(6, 0))  # 6/6: the bootstrap interval is [1, 1]
    assert cell["score_ci"] == [1.0, 1.0]
    assert too_small_to_compare(cell) == f"n = 6 < {MIN_N_TO_COMPARE}"
    assert fmt_score(cell).startswith("1.000 [1.000, 1.000] n=6 " + SMALL_MARK)


def test_a_wide_interval_is_marked_although_n_is_20():
    # F1 on the abnormal class of 20 lines holding one alert: n is 20, the interval spans [0, 1]
    samples = [{"gold": "abnormal", "pred": "abnormal", "score": 1.0}] + \
              [{"gold": "normal", "pred": "abnormal" if i < 2 else "normal", "score": float(i >= 2)} for i in range(19)]
    cell = _cell("p", "bgl", samples, task="anomaly")
    lo, hi = cell["score_ci"]
    assert cell["n"] == 20 and hi - lo > MAX_CI_WIDTH_TO_COMPARE
    assert "interval" in too_small_to_compare(cell) and SMALL_MARK in fmt_score(cell)


def test_without_intervals_only_n_decides():
    big, small = _cell("p", "d", _samples(15, 15), n_resamples=0), _cell("p", "d", _samples(3, 3), n_resamples=0)
    assert big["score_ci"] is None and too_small_to_compare(big) is None and fmt_score(big) == "0.500 n=30"
    assert too_small_to_compare(small)


def test_table_marks_cells_and_explains_the_mark():
    cells = [(None, _cell("direct", "big", _samples(30, 10))), (None, _cell("direct", "tiny", _samples(4, 2)))]
    table = score_table(cells)
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert "n=40" in rows["big"] and SMALL_MARK not in rows["big"]
    assert "n=6" in rows["tiny"] and SMALL_MARK in rows["tiny"]
    assert f"{SMALL_MARK} too small to compare: n < {MIN_N_TO_COMPARE}" in table
    assert SMALL_MARK not in score_table(cells[:1])  # no legend when nothing is marked


def test_comparison_of_runs_marks_old_results_too(tmp_path):
    # a results.json written before n was shown (cells carry n and score_ci) reads the same way
    for name, samples in (("a", _samples(8, 2)), ("b", _samples(40, 10))):
        (tmp_path / name).mkdir()
        cell = _cell("level", "bgl_anomaly", samples)
        (tmp_path / name / "results.json").write_text(json.dumps(
            {"run": {"id": name, "out": str(tmp_path / name), "complete": True}, "seed": 0, "cells": [cell]}))
    text = compare_runs([tmp_path / "a", tmp_path / "b"])
    line = next(x for x in text.splitlines() if x.startswith("| bgl_anomaly"))
    a, b = line.split(" | ")[4:6]
    assert "n=10" in a and SMALL_MARK in a and "n=50" in b and SMALL_MARK not in b
