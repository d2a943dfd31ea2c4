"""Percentile-bootstrap CIs and the results-table rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from causal_llm.metrics import MetricRow, bootstrap, mean_row, perplexity_row


def values(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(1.0, 2.0, n)


def test_bootstrap_point_and_interval_contain_the_estimate():
    x = values(200)
    point, low, high = bootstrap(lambda idx: x[idx].mean(), len(x), n_resamples=500, seed=0)
    assert point == pytest.approx(x.mean())
    assert low < point < high
    # the 95% interval of a mean is about +-1.96 standard errors
    se = x.std(ddof=1) / math.sqrt(len(x))
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.25)


def test_bootstrap_narrows_as_n_grows():
    widths = []
    for n in (30, 300, 3000):
        x = values(n, seed=1)
        _, low, high = bootstrap(lambda idx, x=x: x[idx].mean(), n, n_resamples=300, seed=0)
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2] > 0
    assert widths[0] / widths[2] == pytest.approx(10, rel=0.4)  # sqrt(3000 / 30)


def test_bootstrap_is_deterministic_for_a_seed():
    x = values(100)

    def stat(idx):
        return x[idx].mean()

    a = bootstrap(stat, len(x), n_resamples=200, seed=3)
    b = bootstrap(stat, len(x), n_resamples=200, seed=3)
    c = bootstrap(stat, len(x), n_resamples=200, seed=4)
    assert a == b
    assert a[0] == c[0]
    assert a[1:] != c[1:]


def test_bootstrap_confidence_widens_the_interval():
    x = values(100)
    _, lo90, hi90 = bootstrap(lambda idx: x[idx].mean(), len(x), 400, confidence=0.9, seed=0)
    _, lo99, hi99 = bootstrap(lambda idx: x[idx].mean(), len(x), 400, confidence=0.99, seed=0)
    assert lo99 < lo90 and hi99 > hi90


def test_bootstrap_of_zero_items_raises():
    with pytest.raises(ValueError, match="zero items"):
        bootstrap(lambda idx: 0.0, 0)


def test_mean_row():
    x = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    row = mean_row(x, "baseline", "pretrain", "bias_gap", n_resamples=200, seed=0)
    assert isinstance(row, MetricRow)
    assert (row.variant, row.stage, row.metric, row.n) == ("baseline", "pretrain", "bias_gap", 8)
    assert row.value == pytest.approx(0.625)
    assert 0.0 <= row.ci_low < row.value < row.ci_high <= 1.0
    assert row.to_dict() == {
        "variant": "baseline",
        "stage": "pretrain",
        "metric": "bias_gap",
        "value": row.value,
        "ci_low": row.ci_low,
        "ci_high": row.ci_high,
        "n": 8,
        "interval": "bootstrap",
        "baseline": None,
        "p_value": None,
    }


def test_mean_row_of_a_constant_has_a_zero_width_interval():
    row = mean_row(np.full(20, 0.25), "v", "s", "m", n_resamples=100)
    assert (row.value, row.ci_low, row.ci_high) == pytest.approx((0.25, 0.25, 0.25))


def test_perplexity_row_pools_tokens():
    nll = np.array([2.0, 3.0, 1.0, 4.0])
    n_tokens = np.array([2, 4, 1, 3])
    row = perplexity_row(nll, n_tokens, "causal", "evaluate", n_resamples=300, seed=0)
    expected = math.exp((2.0 + 3.0 + 1.0 + 4.0) / (2 + 4 + 1 + 3))  # exp(sum nll / sum tokens)
    assert row.value == pytest.approx(expected)
    per_doc_mean = np.mean(np.exp(nll / n_tokens))  # not the mean of per-document perplexities
    assert row.value != pytest.approx(per_doc_mean)
    assert (row.metric, row.variant, row.stage, row.n) == ("perplexity", "causal", "evaluate", 4)
    doc_ppl = np.exp(nll / n_tokens)
    assert doc_ppl.min() <= row.ci_low <= row.value <= row.ci_high <= doc_ppl.max()


# --- what each metric means ---------------------------------------------------------------------


def test_metric_names_find_their_semantics():
    from causal_llm.metrics import is_headline, parse_metric, spec_for

    assert parse_metric("cladder_gen/accuracy/rung=3") == ("cladder_gen", "accuracy", ["rung=3"])
    assert parse_metric("bias_gap") == ("", "bias_gap", [])
    assert spec_for("bias_gap").ideal == 0.0 and spec_for("stereotype_share").ideal == 0.5
    assert spec_for("crows/pct_stereotype").ideal == 50.0
    assert spec_for("corr2cause_gen/f1").better == "higher" and spec_for("perplexity").better == "lower"
    assert spec_for("direct/accuracy/rung=1").chance == 0.5
    assert spec_for("no_such_metric") is None
    assert is_headline("direct/accuracy") and not is_headline("direct/accuracy/rung=1")
