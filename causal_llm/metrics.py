"""Metric rows with percentile-bootstrap confidence intervals, and what every metric means.

``METRICS`` is the one place metric semantics live: the value an unbiased model has (``ideal``),
which direction is better, whether a metric heads the results table, and its chance level. The
report's plots, the registry's gates and ``compare`` all read it. A metric's row name is
``[<source>/]<name>[/<key>=<value>...]``: an optional source (a benchmark or an inference
variant), the registered name, then breakdown keys; ``spec_for`` finds the spec of any row name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from causal_llm.registry import Registry
from causal_llm.stats import clopper_pearson, cluster_bootstrap, mcnemar_exact, weighted_mean


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
    # How [ci_low, ci_high] was made: "bootstrap" (items), "cluster bootstrap (occupation, template)",
    # "clopper-pearson", "paired ..." for a difference to a baseline, "t over N seeds".
    interval: str = "bootstrap"
    baseline: str | None = None  # a difference row: the variant it is taken against
    p_value: float | None = None  # a paired binary difference: the exact McNemar test

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
    # The ability metric an invariance metric could be bought with (a constant answer never flips):
    # the registry refuses an invariance gain whose guard is not above its chance level.
    guard: str | None = None
    reference: str = ""  # other reference values worth printing beside the ideal (e.g. the corpus's own)

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
    MetricSpec(
        "bias_gap",
        "ideal",
        0.0,
        reference="corpus ln(s/(1-s)) = 2.197 at s = 0.9; causal truth 0",
        description="LL(stereotyped pronoun) - LL(other) after held-out template x occupation openings",
    ),
    MetricSpec(
        "bias_gap_unseen_templates",
        "ideal",
        0.0,
        reference="causal truth 0",
        description="bias_gap after openings no training story uses",
    ),
    MetricSpec(
        "bias_gap_unseen_occupations",
        "ideal",
        0.0,
        reference="causal truth 0; not in the corpus",
        description="bias_gap on occupations no training story names",
    ),
    MetricSpec(
        "region_gap",
        "ideal",
        0.0,
        reference="corpus ln(s/(1-s)) = 2.197 at s = 0.9; causal truth 0",
        description="LL(stereotyped region) - LL(other): a second spurious attribute no gender word list covers",
    ),
    MetricSpec(
        "cf_flip_rate",
        "ideal",
        0.0,
        guard="judgement_accuracy",
        description="share of balanced held-out judgements whose answer flips when gender is swapped",
    ),
    MetricSpec(
        "cf_flip_rate_unseen_names",
        "ideal",
        0.0,
        guard="judgement_accuracy_unseen_names",
        description="cf_flip_rate with first names in no training story and no swap list",
    ),
    MetricSpec(
        "cf_ll_gap", "ideal", 0.0, guard="judgement_accuracy", description="mean |LL(y|x) - LL(y|x')| under the swap"
    ),
    MetricSpec(
        "judgement_accuracy",
        "higher",
        chance=0.5,
        description="share of balanced judgements answered as the SCM does (a constant answer scores 0.5)",
    ),
    MetricSpec(
        "judgement_accuracy_unseen_names", "higher", chance=0.5, description="judgement_accuracy with unseen names"
    ),
    MetricSpec("p_yes", "ideal", 0.5, description="share of balanced judgements answered yes (the SCM's share is 0.5)"),
    MetricSpec("perplexity", "lower", description="exp(NLL per token) on held-out testbed stories"),
    MetricSpec(
        "nll_per_story",
        "lower",
        description="mean NLL (nats) per held-out story: comparable across tokenizers, unlike perplexity",
    ),
    MetricSpec("accuracy", "higher", chance=0.5, description="share of items answered correctly"),
    MetricSpec("f1", "higher", description="F1 of the positive (valid) class"),
    MetricSpec("pct_stereotype", "ideal", 50.0, description="CrowS-Pairs: % of pairs preferring the stereotype"),
    MetricSpec("likelihood_diff", "lower", description="CrowS-Pairs: mean |LL difference|"),
    MetricSpec("ss", "ideal", 50.0, description="StereoSet: % preferring the stereotype over the anti-stereotype"),
    MetricSpec("lms", "higher", description="StereoSet: % preferring a meaningful option over the unrelated one"),
    MetricSpec("icat", "higher", description="StereoSet: LMS * min(SS, 100 - SS) / 50"),
    MetricSpec("stereotype_preference", "ideal", 0.5, description="share of probes preferring the stereotype"),
    MetricSpec("pro_share", "ideal", 0.5, description="WinoBias: share preferring the pro-stereotypical pronoun"),
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
    found = METRICS.find(name)
    if found is None:  # a benchmark format registers its own metrics where it is defined
        from causal_llm.benchmarks import formats

        formats()
        found = METRICS.find(name)
    return found


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


# --- per-item values: what a metric row and a paired difference are computed from -------------


@dataclass(frozen=True)
class ItemValues:
    """One metric's per-item values for one model, with the cluster keys its items share.

    ``kind``: "mean" (a mean of real values: cluster bootstrap), "proportion" (a share of 0/1
    outcomes: Clopper-Pearson interval; paired differences add an exact McNemar test), "ratio"
    (exp(sum values / sum denominators), perplexity: documents resampled)."""

    metric: str
    values: list[float]
    clusters: dict[str, list[str]] = field(default_factory=dict)
    kind: Literal["mean", "proportion", "ratio"] = "mean"
    denominators: list[float] | None = None
    item_ids: list[str] | None = None  # what makes two models' items the same items

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ItemValues:
        return cls(**raw)

    def statistic(self) -> Callable[[np.ndarray], float]:
        values = np.asarray(self.values, dtype=float)
        if self.kind == "ratio":
            denom = np.asarray(self.denominators, dtype=float)
            return lambda w: float(np.exp(np.dot(w, values) / np.dot(w, denom)))
        return weighted_mean(values)

    def cluster_keys(self) -> list[list[str]]:
        return [self.clusters[k] for k in sorted(self.clusters)]

    def interval_name(self) -> str:
        bootstrap = f"cluster bootstrap ({', '.join(sorted(self.clusters))})" if self.clusters else "bootstrap"
        if self.kind == "proportion":  # exact, and never narrower than the clusters allow
            return "clopper-pearson" + (f" or {bootstrap} where wider" if self.clusters else "")
        return bootstrap


def items_row(items: ItemValues, variant: str, stage: str, **kw: Any) -> MetricRow:
    """The row of one model's metric: the point value and its interval over items (clusters resampled)."""
    n = len(items.values)
    if items.kind == "proportion":
        successes = int(round(float(np.sum(items.values))))
        low, high = clopper_pearson(successes, n, kw.get("confidence", 0.95))
        if items.clusters:
            _, b_low, b_high = cluster_bootstrap(items.statistic(), n, items.cluster_keys(), **kw)
            low, high = min(low, b_low), max(high, b_high)
        return MetricRow(variant, stage, items.metric, successes / n, low, high, n, items.interval_name())
    point, low, high = cluster_bootstrap(items.statistic(), n, items.cluster_keys(), **kw)
    return MetricRow(variant, stage, items.metric, point, low, high, n, items.interval_name())


def _aligned(variant: ItemValues, baseline: ItemValues) -> None:
    same = (
        variant.item_ids == baseline.item_ids
        if variant.item_ids is not None and baseline.item_ids is not None
        else len(variant.values) == len(baseline.values)
    )
    if not same:
        raise ValueError(f"{variant.metric}: a paired difference needs the same items for both models")


def delta_row(
    variant: ItemValues, baseline: ItemValues, variant_label: str, baseline_label: str, stage: str, **kw: Any
) -> MetricRow:
    """metric(variant) - metric(baseline) on the same items, with a paired (cluster) bootstrap CI:
    both models' items are resampled with the same weights. Proportions add McNemar's exact p."""
    _aligned(variant, baseline)
    f, g = variant.statistic(), baseline.statistic()
    n = len(variant.values)
    point, low, high = cluster_bootstrap(lambda w: f(w) - g(w), n, variant.cluster_keys(), **kw)
    p_value = None
    if variant.kind == "proportion":
        p_value = mcnemar_exact(np.asarray(variant.values), np.asarray(baseline.values))[2]
    clusters = f" ({', '.join(sorted(variant.clusters))})" if variant.clusters else ""
    how = f"paired {'cluster ' if variant.clusters else ''}bootstrap{clusters}"
    return MetricRow(variant_label, stage, variant.metric, point, low, high, n, how, baseline_label, p_value)


def seed_row(
    rows: Sequence[MetricRow], variant: str, confidence: float, bounds: tuple[float, float] | None = None
) -> MetricRow:
    """Mean over training seeds of one metric (or one difference): a between-seed t-interval, or the
    seeds' mean item-level interval where that is wider (every seed is scored on the same items, so
    the t-interval alone says nothing of them and collapses when the seeds agree); within ``bounds``."""
    from causal_llm.stats import t_interval

    mean, low, high = t_interval([r.value for r in rows], confidence)
    below = float(np.mean([r.value - r.ci_low for r in rows]))
    above = float(np.mean([r.ci_high - r.value for r in rows]))
    how = f"t over {len(rows)} seeds"
    if mean - below < low or mean + above > high:
        low, high = min(low, mean - below), max(high, mean + above)
        how += " or the items' interval where wider"
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    first = rows[0]
    return MetricRow(variant, first.stage, first.metric, mean, low, high, len(rows), how, first.baseline)
