"""Metrics that mean what the literature means, plus bootstrap confidence intervals.

- anomaly detection: precision / recall / F1 on the *abnormal* class (and accuracy);
- classification: accuracy and macro-F1 (classes = gold labels plus predicted labels, as scikit-learn does);
- log parsing: grouping accuracy (Loghub: a line is right iff the set of lines in its predicted group equals
  its gold group), parsing accuracy (message level: template equal after whitespace / ``<*>`` normalisation),
  normalised template edit distance (character Levenshtein / longer length; lower is better);
- free text: ROUGE-L F1 (``rouge-score``).

A missing prediction (``None``: the model's output could not be parsed, or the call failed) is always wrong:
it never equals a gold label, forms no group, and has edit distance 1. Count such format failures with
:func:`format_failures` and report them beside every score.

Every corpus metric is built as a *statistic of example weights* (``stat(weights) -> float``; weights are all
ones for the plain score, bootstrap counts for a resample), so :func:`bootstrap_ci` works for all of them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from logreasoner.tasks import normalize_template, normalize_text
from logreasoner.tasks import rouge_l as _rouge_l

__all__ = [
    "normalize_label",
    "normalize_template",
    "binary_prf",
    "accuracy",
    "macro_f1",
    "grouping_accuracy",
    "parsing_accuracy",
    "edit_distance",
    "normalized_edit_distance",
    "mean_edit_distance",
    "rouge_l",
    "mean_score",
    "format_failures",
    "bootstrap_ci",
    "Stat",
    "prf_stats",
    "accuracy_stat",
    "macro_f1_stat",
    "grouping_accuracy_stat",
    "mean_stat",
]

Stat = Callable[[np.ndarray], float]


def normalize_label(x: Any) -> str | None:
    """Case- and space-insensitive label (None stays None)."""
    return None if x is None else normalize_text(x)


def _ones(n: int) -> np.ndarray:
    return np.ones(n, dtype=np.float64)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


# --------------------------------------------------------------------------- classification

def prf_stats(gold: Sequence[Any], pred: Sequence[Any], positive: str = "abnormal") -> dict[str, Stat]:
    """Weighted statistics precision/recall/f1/accuracy of the ``positive`` class."""
    pos = normalize_label(positive)
    g = np.array([normalize_label(x) == pos for x in gold])
    p = np.array([normalize_label(x) == pos for x in pred])
    same = np.array([normalize_label(a) == normalize_label(b) and b is not None for a, b in zip(gold, pred)])
    tp_m, fp_m, fn_m = g & p, ~g & p, g & ~p

    def counts(w):
        return float(w[tp_m].sum()), float(w[fp_m].sum()), float(w[fn_m].sum())

    def precision(w):
        tp, fp, _ = counts(w)
        return _ratio(tp, tp + fp)

    def recall(w):
        tp, _, fn = counts(w)
        return _ratio(tp, tp + fn)

    def f1(w):
        tp, fp, fn = counts(w)
        return _ratio(2 * tp, 2 * tp + fp + fn)

    def acc(w):
        return _ratio(float(w[same].sum()), float(w.sum()))

    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": acc}


def binary_prf(gold: Sequence[Any], pred: Sequence[Any], positive: str = "abnormal") -> dict[str, float]:
    """Precision, recall, F1 on the positive class, accuracy, and the confusion counts."""
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")
    stats = prf_stats(gold, pred, positive)
    w = _ones(len(gold))
    out = {k: s(w) for k, s in stats.items()}
    pos = normalize_label(positive)
    out["tp"] = sum(1 for a, b in zip(gold, pred) if normalize_label(a) == pos and normalize_label(b) == pos)
    out["fp"] = sum(1 for a, b in zip(gold, pred) if normalize_label(a) != pos and normalize_label(b) == pos)
    out["fn"] = sum(1 for a, b in zip(gold, pred) if normalize_label(a) == pos and normalize_label(b) != pos)
    out["tn"] = len(gold) - out["tp"] - out["fp"] - out["fn"]
    return out


def accuracy_stat(gold: Sequence[Any], pred: Sequence[Any]) -> Stat:
    same = np.array([b is not None and normalize_label(a) == normalize_label(b) for a, b in zip(gold, pred)],
                    dtype=bool)
    return lambda w: _ratio(float(w[same].sum()), float(w.sum()))


def accuracy(gold: Sequence[Any], pred: Sequence[Any]) -> float:
    """Share of exact (case/space-insensitive) label matches; None is wrong."""
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")
    return accuracy_stat(gold, pred)(_ones(len(gold))) if gold else 0.0


def macro_f1_stat(gold: Sequence[Any], pred: Sequence[Any]) -> Stat:
    g = [normalize_label(x) for x in gold]
    p = [normalize_label(x) for x in pred]
    classes = sorted(set(g) | {x for x in p if x is not None})
    g_arr, p_arr = np.array(g, dtype=object), np.array(p, dtype=object)
    masks = [(g_arr == c, p_arr == c) for c in classes]

    def stat(w):
        f1s = []
        for gm, pm in masks:
            tp = float(w[gm & pm].sum())
            fp = float(w[~gm & pm].sum())
            fn = float(w[gm & ~pm].sum())
            if tp + fp + fn == 0:  # class absent from this resample
                continue
            f1s.append(_ratio(2 * tp, 2 * tp + fp + fn))
        return float(np.mean(f1s)) if f1s else 0.0

    return stat


def macro_f1(gold: Sequence[Any], pred: Sequence[Any]) -> float:
    """Unweighted mean of per-class F1 over the gold and predicted classes (None predicts no class)."""
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")
    return macro_f1_stat(gold, pred)(_ones(len(gold))) if gold else 0.0


# --------------------------------------------------------------------------- log parsing

def grouping_accuracy_stat(gold: Sequence[Any], pred: Sequence[Any], groups: Sequence[Any] | None = None) -> Stat:
    """Grouping accuracy as a weighted statistic (weights = how often each line is counted)."""
    n = len(gold)
    groups = list(groups) if groups is not None else [None] * n
    g_ids: dict[tuple, int] = {}
    p_ids: dict[tuple, int] = {}
    gi = np.empty(n, dtype=np.int64)
    pi = np.empty(n, dtype=np.int64)
    valid = np.ones(n, dtype=bool)
    for i, (a, b, grp) in enumerate(zip(gold, pred, groups)):
        gi[i] = g_ids.setdefault((grp, str(a).strip()), len(g_ids))
        if b is None:  # a failed line is its own group and never right
            pi[i] = p_ids.setdefault(("\x00missing", i), len(p_ids))
            valid[i] = False
        else:
            pi[i] = p_ids.setdefault((grp, str(b).strip()), len(p_ids))
    n_p = max(len(p_ids), 1)
    pair = gi * n_p + pi
    _, pair_idx = np.unique(pair, return_inverse=True)

    def stat(w):
        total = float(w.sum())
        if not total:
            return 0.0
        c_pair = np.bincount(pair_idx, weights=w)[pair_idx]
        c_g = np.bincount(gi, weights=w)[gi]
        c_p = np.bincount(pi, weights=w)[pi]
        ok = valid & (c_pair == c_g) & (c_pair == c_p) & (w > 0)
        return float(w[ok].sum() / total)

    return stat


def grouping_accuracy(gold: Sequence[Any], pred: Sequence[Any], groups: Sequence[Any] | None = None) -> float:
    """Loghub grouping accuracy: the share of lines whose predicted group is exactly their gold group.

    Groups are the exact (stripped) template strings; ``groups`` (e.g. the system of each line) keeps the
    templates of different systems apart.
    """
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")
    return grouping_accuracy_stat(gold, pred, groups)(_ones(len(gold))) if gold else 0.0


def parsing_accuracy(gold: Sequence[Any], pred: Sequence[Any]) -> float:
    """Message-level parsing accuracy: templates equal after whitespace / ``<*>``-run normalisation."""
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")
    if not gold:
        return 0.0
    return float(np.mean([b is not None and normalize_template(a) == normalize_template(b)
                          for a, b in zip(gold, pred)]))


@lru_cache(maxsize=65536)
def edit_distance(a: str, b: str) -> int:
    """Character Levenshtein distance (nltk, memoised: parsing results repeat the same pairs)."""
    try:
        from nltk.metrics.distance import edit_distance as _ed
    except ImportError as e:  # pragma: no cover - depends on extras
        raise ImportError("edit distance needs the 'evals' extra: pip install 'logreasoner[evals]'") from e
    return int(_ed(a, b))


def normalized_edit_distance(gold: Any, pred: Any) -> float:
    """Levenshtein distance over the longer length, in [0, 1]; a missing prediction scores 1."""
    if pred is None:
        return 1.0
    a, b = normalize_template(gold) or "", normalize_template(pred) or ""
    longest = max(len(a), len(b))
    return edit_distance(a, b) / longest if longest else 0.0


def mean_edit_distance(gold: Sequence[Any], pred: Sequence[Any]) -> float:
    """Mean normalised template edit distance (lower is better)."""
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")
    return float(np.mean([normalized_edit_distance(a, b) for a, b in zip(gold, pred)])) if gold else 0.0


# --------------------------------------------------------------------------- free text and generic

def rouge_l(gold: Any, pred: Any) -> float:
    """ROUGE-L F1 (``rouge-score``, stemming on); a missing prediction scores 0."""
    return 0.0 if pred is None else float(_rouge_l(gold, pred))


def mean_stat(values: Sequence[float]) -> Stat:
    x = np.asarray(values, dtype=np.float64)
    return lambda w: _ratio(float((w * x).sum()), float(w.sum()))


def mean_score(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def format_failures(pred: Sequence[Any]) -> tuple[int, float]:
    """How many predictions are missing (None), and their share."""
    n = sum(1 for p in pred if p is None)
    return n, (n / len(pred) if len(pred) else 0.0)


# --------------------------------------------------------------------------- bootstrap

def bootstrap_ci(stat: Stat, n: int, *, n_resamples: int = 1000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat`` over ``n`` examples resampled with replacement."""
    if n <= 0 or n_resamples <= 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for b in range(n_resamples):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        values[b] = stat(w)
    alpha = (1.0 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return float(lo), float(hi)
