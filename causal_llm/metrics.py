"""Headline metrics with percentile-bootstrap confidence intervals over items."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class MetricRow:
    """One line of the results table."""

    variant: str
    stage: str
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def bootstrap(
    statistic: Callable[[np.ndarray], float],
    n_items: int,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(point estimate, low, high): ``statistic`` takes an array of item indices and is evaluated on
    all items and on ``n_resamples`` resamples drawn with replacement (percentile interval)."""
    if n_items == 0:
        raise ValueError("cannot bootstrap a metric over zero items")
    rng = np.random.default_rng(seed)
    point = float(statistic(np.arange(n_items)))
    draws = np.array([statistic(rng.integers(0, n_items, n_items)) for _ in range(n_resamples)])
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return point, float(low), float(high)


def mean_row(values: np.ndarray, variant: str, stage: str, metric: str, **kw: float) -> MetricRow:
    values = np.asarray(values, dtype=float)
    point, low, high = bootstrap(lambda idx: values[idx].mean(), len(values), **kw)
    return MetricRow(variant, stage, metric, point, low, high, len(values))


def perplexity_row(nll: np.ndarray, n_tokens: np.ndarray, variant: str, stage: str, **kw: float) -> MetricRow:
    """exp(total NLL / total tokens), resampling documents."""
    nll, n_tokens = np.asarray(nll, float), np.asarray(n_tokens, float)
    point, low, high = bootstrap(lambda idx: float(np.exp(nll[idx].sum() / n_tokens[idx].sum())), len(nll), **kw)
    return MetricRow(variant, stage, "perplexity", point, low, high, len(nll))
