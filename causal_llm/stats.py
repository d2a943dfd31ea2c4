"""Intervals and tests a comparison of variants needs (docs/methods.md#comparing-variants).

- ``cluster_bootstrap``: a percentile bootstrap that resamples whole clusters. Testbed probes are
  occupations x templates, so items of one occupation are not independent draws; with two cluster
  keys it resamples both at once (the pigeonhole bootstrap of Owen 2007: an item's weight is the
  product of how often its occupation and its template were drawn).
- ``clopper_pearson``: the exact binomial interval for a proportion; a percentile bootstrap
  collapses to [0, 0] at a proportion of 0.
- ``mcnemar_exact``: paired binary outcomes (an item flips under one model and not the other):
  the two-sided exact binomial test on the discordant pairs.
- ``t_interval``: between-seed interval of a mean over training seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def _codes(labels: Sequence[object]) -> tuple[np.ndarray, int]:
    _, codes = np.unique(np.asarray([str(x) for x in labels]), return_inverse=True)
    return codes, int(codes.max()) + 1 if len(codes) else 0


def cluster_weights(
    clusters: Sequence[Sequence[object]], n_items: int, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """(n_resamples, n_items) item weights: per cluster key, clusters drawn with replacement; an item's
    weight is the product over keys of its cluster's draw count. No keys: items drawn one by one."""
    if not clusters:
        draws = rng.integers(0, n_items, (n_resamples, n_items))
        return np.stack([np.bincount(d, minlength=n_items) for d in draws]).astype(float)
    weights = np.ones((n_resamples, n_items))
    for labels in clusters:
        if len(labels) != n_items:
            raise ValueError(f"a cluster key labels {len(labels)} items, expected {n_items}")
        codes, k = _codes(labels)
        counts = np.stack([np.bincount(rng.integers(0, k, k), minlength=k) for _ in range(n_resamples)])
        weights *= counts[:, codes]
    return weights


def cluster_bootstrap(
    statistic: Callable[[np.ndarray], float],
    n_items: int,
    clusters: Sequence[Sequence[object]] = (),
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(point, low, high): ``statistic`` takes item weights (all ones for the point estimate).
    A resample whose weights are all zero (possible with two keys) is drawn again."""
    if n_items == 0:
        raise ValueError("cannot bootstrap a metric over zero items")
    rng = np.random.default_rng(seed)
    point = float(statistic(np.ones(n_items)))
    draws: list[float] = []
    while len(draws) < n_resamples:
        for w in cluster_weights(clusters, n_items, n_resamples - len(draws), rng):
            if w.sum() > 0:
                draws.append(float(statistic(w)))
    alpha = (1 - confidence) / 2
    low, high = np.quantile(np.array(draws), [alpha, 1 - alpha])
    return point, float(low), float(high)


def weighted_mean(values: np.ndarray) -> Callable[[np.ndarray], float]:
    values = np.asarray(values, dtype=float)
    return lambda w: float(np.dot(w, values) / w.sum())


def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for successes / n (Clopper and Pearson 1934)."""
    from scipy.stats import beta

    if n <= 0:
        raise ValueError("a proportion needs at least one item")
    alpha = 1 - confidence
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, n - successes + 1))
    high = 1.0 if successes == n else float(beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    return low, high


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """(items where only ``a`` is 1, items where only ``b`` is 1, two-sided exact p-value)."""
    from scipy.stats import binomtest

    a, b = np.asarray(a).astype(bool), np.asarray(b).astype(bool)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes need the same items: {a.shape} vs {b.shape}")
    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    if only_a + only_b == 0:
        return 0, 0, 1.0
    return only_a, only_b, float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of per-seed values: Student's t with n - 1 degrees of freedom."""
    from scipy.stats import t

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        raise ValueError("a between-seed interval needs at least 2 seeds")
    mean, sem = float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x)))
    half = float(t.ppf(0.5 + confidence / 2, len(x) - 1)) * sem
    return mean, mean - half, mean + half
