"""Intervals and tests of comparisons: known answers, and what a wrong implementation would miss."""

from __future__ import annotations

import math

import numpy as np
import pytest

from causal_llm.metrics import ItemValues, delta_row, items_row, seed_row
from causal_llm.stats import (
    clopper_pearson,
    cluster_bootstrap,
    cluster_weights,
    mcnemar_exact,
    t_interval,
    weighted_mean,
)


def _binom_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def test_clopper_pearson_known_values():
    # 0 of n: the upper end solves (1 - p)^n = alpha / 2 in closed form
    assert clopper_pearson(0, 64) == pytest.approx((0.0, 1 - 0.025 ** (1 / 64)), abs=1e-9)
    # k of n: the ends are where the binomial tails are exactly alpha / 2 (checked by summing the pmf)
    low, high = clopper_pearson(5, 64)
    assert _binom_cdf(5, 64, high) == pytest.approx(0.025, abs=1e-9)
    assert 1 - _binom_cdf(4, 64, low) == pytest.approx(0.025, abs=1e-9)
    assert clopper_pearson(64, 64)[1] == 1.0


def test_exact_mcnemar_known_value():
    """5 items flip under one model and none under the other: p = 2 * 0.5**5 = 0.0625 (not < 0.05)."""
    a = np.array([1] * 5 + [0] * 59)
    b = np.zeros(64)
    assert mcnemar_exact(a, b) == (5, 0, pytest.approx(0.0625))
    assert mcnemar_exact(b, b) == (0, 0, 1.0)
    with pytest.raises(ValueError, match="same items"):
        mcnemar_exact(a, b[:10])


def test_t_interval_known_value():
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert high - mean == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-5)  # t(0.975, 2) * s / sqrt(n)
    with pytest.raises(ValueError, match="2 seeds"):
        t_interval([1.0])


def test_cluster_weights_resample_whole_clusters():
    occupation = ["a", "a", "b", "b", "c", "c"]
    w = cluster_weights([occupation], 6, 200, np.random.default_rng(0))
    assert (w[:, 0] == w[:, 1]).all() and (w[:, 2] == w[:, 3]).all()  # items of one cluster move together
    assert (w.sum(axis=1) == 6).all()  # 3 clusters of 2 drawn 3 times
    two = cluster_weights([occupation, ["x", "y"] * 3], 6, 50, np.random.default_rng(0))
    assert two.shape == (50, 6) and (two >= 0).all()


def test_clustered_items_get_a_wider_interval_than_independent_ones():
    """8 occupations x 4 templates, a value that depends on the occupation only: the 32 items are
    8 draws, and only the cluster bootstrap says so."""
    rng = np.random.default_rng(1)
    per_occ = rng.normal(0, 1, 8)
    values = np.repeat(per_occ, 4)
    occ = [str(i) for i in np.repeat(np.arange(8), 4)]
    _, lo_iid, hi_iid = cluster_bootstrap(weighted_mean(values), 32, (), 500)
    _, lo_cl, hi_cl = cluster_bootstrap(weighted_mean(values), 32, [occ], 500)
    assert (hi_cl - lo_cl) > 1.5 * (hi_iid - lo_iid)


def test_a_paired_difference_is_tighter_than_two_separate_intervals():
    """Two models whose per-item values share a large item effect: the paired CI of the difference
    excludes 0 while the two marginal CIs overlap."""
    rng = np.random.default_rng(2)
    item_effect = rng.normal(0, 2, 64)
    base = ItemValues("bias_gap", list(item_effect + 1.0))
    better = ItemValues("bias_gap", list(item_effect + 0.7 + rng.normal(0, 0.05, 64)))
    rb, rv = items_row(base, "b", "pretrain"), items_row(better, "v", "pretrain")
    assert rv.ci_high > rb.ci_low  # the marginal intervals overlap
    d = delta_row(better, base, "v - b", "b", "pretrain")
    assert d.ci_high < 0 and d.value == pytest.approx(np.mean(better.values) - np.mean(base.values))
    assert d.baseline == "b" and d.interval.startswith("paired")


def test_paired_differences_need_the_same_items():
    a = ItemValues("x", [0.0, 1.0], item_ids=["p", "q"])
    b = ItemValues("x", [0.0, 1.0], item_ids=["p", "r"])
    with pytest.raises(ValueError, match="same items"):
        delta_row(a, b, "a - b", "b", "s")


def test_a_flip_rate_difference_carries_mcnemar_and_a_proportion_its_exact_interval():
    flips = ItemValues("cf_flip_rate", [1.0] * 5 + [0.0] * 59, kind="proportion")
    none = ItemValues("cf_flip_rate", [0.0] * 64, kind="proportion")
    row = items_row(none, "dpo_cf", "align")
    assert (row.value, row.ci_low) == (0.0, 0.0) and row.ci_high == pytest.approx(1 - 0.025 ** (1 / 64))
    d = delta_row(none, flips, "dpo_cf - dpo", "dpo", "align")
    assert d.p_value == pytest.approx(0.0625) and d.value == pytest.approx(-5 / 64)


def test_seed_row_is_the_mean_over_seeds_with_a_t_interval():
    rows = [items_row(ItemValues("bias_gap", [v, v + 0.1]), "p", "pretrain") for v in (1.0, 1.2, 1.4)]
    s = seed_row(rows, "pretrain/baseline", 0.95)
    assert s.value == pytest.approx(1.25) and s.n == 3 and s.interval == "t over 3 seeds"
    assert s.ci_low < 1.25 < s.ci_high
