"""Each metric against cases computed by hand."""

import math

import numpy as np
import pytest

from logreasoner.evals import metrics as M
from logreasoner.evals.scoring import summarize


def test_binary_prf_on_abnormal_class_with_a_missing_prediction():
    gold = ["abnormal", "abnormal", "normal", "normal", "abnormal"]
    pred = ["abnormal", "normal", "abnormal", "normal", None]
    r = M.binary_prf(gold, pred)
    # TP=1 (0), FN=2 (1, 4: None predicts nothing), FP=1 (2), TN=1 (3)
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (1, 1, 2, 1)
    assert r["precision"] == pytest.approx(1 / 2)
    assert r["recall"] == pytest.approx(1 / 3)
    assert r["f1"] == pytest.approx(0.4)  # 2PR/(P+R) = (1/3)/(5/6)
    assert r["accuracy"] == pytest.approx(2 / 5)


def test_binary_prf_no_positive_predictions_is_zero_not_nan():
    r = M.binary_prf(["abnormal", "normal"], ["normal", "normal"])
    assert r["precision"] == 0.0 and r["recall"] == 0.0 and r["f1"] == 0.0


def test_accuracy_is_case_and_space_insensitive_and_none_is_wrong():
    assert M.accuracy(["Port Down", "CPU Caterr"], ["port  down", None]) == pytest.approx(0.5)


def test_macro_f1_by_hand():
    gold = ["a", "a", "b", "c"]
    pred = ["a", "b", "b", None]
    # a: TP1 FP0 FN1 -> 2/3; b: TP1 FP1 FN0 -> 2/3; c: TP0 FP0 FN1 -> 0
    assert M.macro_f1(gold, pred) == pytest.approx(4 / 9)


def test_macro_f1_matches_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    labels = ["x", "y", "z", "w"]
    gold = list(rng.choice(labels[:3], 60))
    pred = list(rng.choice(labels, 60))
    assert M.macro_f1(gold, pred) == pytest.approx(sk.f1_score(gold, pred, average="macro"))


def test_grouping_accuracy_loghub_definition():
    gold = ["E1", "E1", "E2", "E2", "E3"]
    pred = ["A", "A", "B", "C", "B"]
    # lines 0,1: predicted group {0,1} == gold group {0,1}; 2: {2,4} != {2,3}; 3: {3} != {2,3}; 4: {2,4} != {4}
    assert M.grouping_accuracy(gold, pred) == pytest.approx(2 / 5)


def test_grouping_accuracy_template_names_do_not_matter():
    assert M.grouping_accuracy(["x <*>", "x <*>", "y"], ["p", "p", "q"]) == 1.0


def test_grouping_accuracy_missing_prediction_is_wrong_even_for_a_singleton():
    assert M.grouping_accuracy(["E1", "E1", "E2"], ["A", "A", None]) == pytest.approx(2 / 3)


def test_grouping_accuracy_keeps_systems_apart():
    gold, pred = ["T", "T"], ["X", "Y"]
    assert M.grouping_accuracy(gold, pred) == 0.0  # one gold group split in two
    assert M.grouping_accuracy(gold, pred, groups=["s1", "s2"]) == 1.0  # two systems: two gold groups


def test_parsing_accuracy_normalises_spaces_and_wildcard_runs():
    gold = ["a <*> b", "x <*>"]
    pred = ["a <*>  <*> b", "x y"]
    assert M.parsing_accuracy(gold, pred) == pytest.approx(0.5)
    assert M.parsing_accuracy(["a"], [None]) == 0.0


def test_normalized_edit_distance_by_hand():
    assert M.normalized_edit_distance("abc", "abd") == pytest.approx(1 / 3)
    assert M.normalized_edit_distance("ab", "abcd") == pytest.approx(2 / 4)
    assert M.normalized_edit_distance("", "") == 0.0
    assert M.normalized_edit_distance("abc", None) == 1.0
    assert M.mean_edit_distance(["abc", "abc"], ["abc", "abd"]) == pytest.approx(1 / 6)


def test_rouge_l_by_hand():
    # LCS "the cat sat" = 3 tokens; P = 3/3, R = 3/6, F = 2*1*0.5/1.5
    assert M.rouge_l("the cat sat on the mat", "the cat sat") == pytest.approx(2 / 3)
    assert M.rouge_l("anything", None) == 0.0


def test_format_failures():
    assert M.format_failures([None, "a", None]) == (2, pytest.approx(2 / 3))
    assert M.format_failures([]) == (0, 0.0)


def test_bootstrap_ci_constant_and_mean():
    lo, hi = M.bootstrap_ci(M.mean_stat([1.0] * 10), 10, n_resamples=200)
    assert lo == hi == 1.0
    x = [0.0, 1.0] * 50
    lo, hi = M.bootstrap_ci(M.mean_stat(x), len(x), n_resamples=500, seed=3)
    assert 0.3 < lo < 0.5 < hi < 0.7
    assert (lo, hi) == M.bootstrap_ci(M.mean_stat(x), len(x), n_resamples=500, seed=3)  # seeded
    assert all(math.isnan(v) for v in M.bootstrap_ci(M.mean_stat([]), 0))


def test_grouping_accuracy_stat_with_weights_equals_duplicated_lines():
    gold, pred = ["E1", "E1", "E2"], ["A", "B", "C"]
    stat = M.grouping_accuracy_stat(gold, pred)
    # weight 0 on line 1 drops it: then E1 = {0} = A, E2 = {2} = C -> all counted lines right
    assert stat(np.array([1.0, 0.0, 2.0])) == 1.0
    assert stat(np.ones(3)) == pytest.approx(1 / 3)


def test_summarize_counts_failures_beside_the_score():
    samples = [
        {"gold": "abnormal", "pred": "abnormal", "score": 1.0, "error": None},
        {"gold": "abnormal", "pred": None, "score": 0.0, "error": None},          # format failure
        {"gold": "normal", "pred": None, "score": 0.0, "error": "RuntimeError: x"},  # error
        {"gold": "normal", "pred": "normal", "score": 1.0, "error": None},
    ]
    s = summarize("anomaly", samples, n_resamples=50)
    assert s["format_failures"] == 1 and s["format_failure_rate"] == 0.25
    assert s["errors"] == 1 and s["error_rate"] == 0.25
    assert s["primary_metric"] == "f1"
    assert s["score"] == pytest.approx(2 / 3)  # TP1, FN1
    assert s["parsed_only"]["f1"] == 1.0 and s["parsed_n"] == 2
    assert s["ci"]["f1"][0] <= s["score"] <= s["ci"]["f1"][1]
