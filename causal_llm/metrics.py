"""Metric rows with percentile-bootstrap confidence intervals, and what every metric means.

``METRICS`` is the one place metric semantics live: the value an unbiased model has (``ideal``),
which direction is better, whether a metric heads the results table, and its chance level. The
report's plots, the registry's gates and ``compare`` all read it. A metric's row name is
``[<source>/]<name>[/<key>=<value>...]``: an optional source (a benchmark or an inference
variant), the registered name, then breakdown keys; ``spec_for`` finds the spec of any row name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from causal_llm.registry import Registry


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


@dataclass(frozen=True)
class MetricSpec:
    name: str
    # "ideal": closer to `ideal` is better (bias metrics); "higher"/"lower": an ability metric.
    better: Literal["ideal", "higher", "lower"]
    ideal: float | None = None
    headline: bool = True
    chance: float | None = None  # drawn on breakdown plots (accuracy at chance is 0.5 on yes/no items)
    description: str = ""

    def distance(self, value: float) -> float:
        """How far from unbiased (bias metrics only)."""
        assert self.ideal is not None, self.name
        return abs(value - self.ideal)


METRICS: Registry[MetricSpec] = Registry("metric")


def register_metric(spec: MetricSpec) -> MetricSpec:
    METRICS.add(spec.name, spec)
    return spec


for _spec in (
    MetricSpec(
        "stereotype_share", "ideal", 0.5, description="share of corpus stories whose pronoun fits the stereotype"
    ),
    MetricSpec("bias_gap", "ideal", 0.0, description="LL(stereotyped pronoun) - LL(other) after an occupation"),
    MetricSpec("cf_flip_rate", "ideal", 0.0, description="share of judgements that flip when gender is swapped"),
    MetricSpec("cf_ll_gap", "ideal", 0.0, description="mean |LL(y|x) - LL(y|x')| under the swap"),
    MetricSpec("perplexity", "lower", description="exp(NLL per token) on held-out testbed stories"),
    MetricSpec("accuracy", "higher", chance=0.5, description="share of items answered correctly"),
    MetricSpec("f1", "higher", description="F1 of the positive (valid) class"),
    MetricSpec("pct_stereotype", "ideal", 50.0, description="CrowS-Pairs: % of pairs preferring the stereotype"),
    MetricSpec("likelihood_diff", "lower", description="CrowS-Pairs: mean |LL difference|"),
    MetricSpec("ss", "ideal", 50.0, description="StereoSet: % preferring the stereotype over the anti-stereotype"),
    MetricSpec("lms", "higher", description="StereoSet: % preferring a meaningful option over the unrelated one"),
    MetricSpec("icat", "higher", description="StereoSet: LMS * min(SS, 100 - SS) / 50"),
    MetricSpec("stereotype_preference", "ideal", 0.5, description="share of probes preferring the stereotype"),
    MetricSpec("pro_share", "ideal", 0.5, description="WinoBias: share preferring the pro-stereotypical pronoun"),
    MetricSpec("acc_pro", "higher", description="WinoBias: accuracy on pro-stereotyped items"),
    MetricSpec("acc_anti", "higher", description="WinoBias: accuracy on anti-stereotyped items"),
    MetricSpec("acc_gap", "ideal", 0.0, description="WinoBias: pro minus anti accuracy"),
):
    register_metric(_spec)


def parse_metric(metric: str) -> tuple[str, str, list[str]]:
    """``cladder_gen/accuracy/rung=3`` -> (source ``cladder_gen``, name ``accuracy``, [``rung=3``])."""
    parts = metric.split("/")
    plain = [p for p in parts if "=" not in p]
    breakdown = [p for p in parts if "=" in p]
    return "/".join(plain[:-1]), plain[-1] if plain else metric, breakdown


def spec_for(metric: str) -> MetricSpec | None:
    """The spec of a row's metric name, or None for a metric nobody registered."""
    _, name, _ = parse_metric(metric)
    return METRICS.find(name)


def is_headline(metric: str) -> bool:
    """Overall rows of headline metrics; breakdowns (``.../key=value``) go to the CSV and the plots only."""
    spec = spec_for(metric)
    return "=" not in metric and (spec is None or spec.headline)


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
