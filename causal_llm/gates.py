"""The model registry's gates, as pure functions of metric values: a candidate replaces the
champion only when its bias is no worse and its ability is within a tolerance.

Given the candidate's confidence intervals, a gate fails only on what the interval supports: bias
detectably further from the unbiased value than the champion's (plus tolerance), ability detectably
below the limit. An invariance metric with a ``guard`` (cf_flip_rate: judgement_accuracy) passes only
when the guard's interval lies above its chance level: a model that always answers "no" never flips.

What a metric's unbiased value is and which way is better come from ``causal_llm.metrics.METRICS``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from causal_llm.config import require
from causal_llm.metrics import spec_for

_EPS = 1e-12  # identical retrains must pass "no worse" despite float noise in the last bit


@dataclass(frozen=True)
class RegistryConfig:
    """The MLflow model registry. Every stage's model becomes a version aliased ``candidate``; it moves
    ``champion`` only when its evaluation passes both gates against the current champion."""

    enabled: bool = True
    model_prefix: str = "causal-llm"  # registered names: <prefix>-<profile>-<stage>-<variant>
    # Bias gate: |value - ideal| may grow by at most bias_tolerance (absolute; 0 = no worse at all).
    bias_metrics: list[str] = field(default_factory=lambda: ["bias_gap", "cf_flip_rate"])
    bias_tolerance: float = 0.0
    # Ability gate: may get worse by at most ability_tolerance, relative (0.05 = 5%).
    ability_metrics: list[str] = field(default_factory=lambda: ["perplexity", "cladder_gen/accuracy"])
    ability_tolerance: float = 0.05

    def __post_init__(self) -> None:
        require(self.bias_tolerance >= 0, "registry.bias_tolerance must be >= 0")
        require(0 <= self.ability_tolerance < 1, "registry.ability_tolerance must be in [0, 1)")
        require(
            bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*", self.model_prefix)),
            "registry.model_prefix must be letters, digits, '_', '.' or '-'",
        )
        for metric in self.bias_metrics:
            spec = spec_for(metric)
            require(
                spec is not None and spec.ideal is not None,
                f"registry.bias_metrics: '{metric}' has no known unbiased value; use a metric whose spec in "
                "causal_llm.metrics.METRICS has an ideal (bias_gap, cf_flip_rate, stereotype_share, ...)",
            )
        for metric in self.ability_metrics:
            spec = spec_for(metric)
            require(
                spec is not None and spec.better in ("higher", "lower"),
                f"registry.ability_metrics: '{metric}' is not an ability metric (higher or lower is better)",
            )


@dataclass(frozen=True)
class GateCheck:
    metric: str
    kind: str  # "bias" (distance from the unbiased value) or "ability"
    candidate: float | None
    champion: float | None
    limit: float | None  # the worst value the candidate may have
    passed: bool
    note: str = ""


Interval = tuple[float, float]


def check_gates(
    candidate: Mapping[str, float],
    champion: Mapping[str, float],
    cfg: RegistryConfig,
    intervals: Mapping[str, Interval] | None = None,
    champion_intervals: Mapping[str, Interval] | None = None,
) -> tuple[bool, list[GateCheck]]:
    """Both gates, metric by metric, on the candidate's ``intervals`` where given (point values
    otherwise). A metric the champion has and the candidate lacks fails; one neither has is skipped
    (not every variant is scored on everything)."""
    intervals, champion_intervals = intervals or {}, champion_intervals or {}
    checks = []
    for m in cfg.bias_metrics:
        check = _bias_check(m, candidate.get(m), champion.get(m), cfg.bias_tolerance, intervals.get(m))
        checks.append(_guarded(check, candidate, champion, intervals, champion_intervals))
    checks += [
        _ability_check(m, candidate.get(m), champion.get(m), cfg.ability_tolerance, intervals.get(m))
        for m in cfg.ability_metrics
    ]
    checks = [c for c in checks if c is not None]
    return all(c.passed for c in checks), checks


def _distance_low(interval: Interval, ideal: float) -> float:
    """The smallest |value - ideal| the interval allows."""
    low, high = interval
    return 0.0 if low <= ideal <= high else min(abs(low - ideal), abs(high - ideal))


def _above_chance(metric: str, values: Mapping[str, float], intervals: Mapping[str, Interval]) -> bool | None:
    """Whether a guard metric's interval (or value) lies above its chance level; None: not measured."""
    if metric not in values:
        return None
    spec = spec_for(metric)
    chance = spec.chance if spec is not None and spec.chance is not None else 0.0
    return intervals.get(metric, (values[metric], values[metric]))[0] > chance


def _guarded(
    check: GateCheck | None,
    candidate: Mapping[str, float],
    champion: Mapping[str, float],
    intervals: Mapping[str, Interval],
    champion_intervals: Mapping[str, Interval],
) -> GateCheck | None:
    """An invariance metric's guard (cf_flip_rate: judgement_accuracy): a champion whose guard is not
    above chance sets no invariance limit (its invariance may be a constant answer's), and a
    candidate's invariance *gain* counts only when its own guard is above chance."""
    if check is None or check.candidate is None or check.champion is None:
        return check
    spec = spec_for(check.metric)
    guard = spec.guard if spec is not None else None
    if guard is None:
        return check
    if not _above_chance(guard, champion, champion_intervals):
        return replace(check, passed=True, note=f"{check.note}; the champion's {guard} is not above chance: no limit")
    assert spec is not None
    gained = spec.distance(check.candidate) < spec.distance(check.champion) - _EPS
    if check.passed and gained and not _above_chance(guard, candidate, intervals):
        note = f"an invariance gain with {guard} not above chance (a constant answer never flips)"
        return replace(check, passed=False, note=f"{check.note}; {note}")
    return check


def _missing(metric: str, kind: str, cand: float | None, champ: float | None) -> GateCheck | None:
    if cand is None and champ is None:
        return None
    if cand is None:
        return GateCheck(metric, kind, None, champ, None, False, "the candidate was not scored on it")
    return GateCheck(metric, kind, cand, None, None, True, "the champion has no value")


def _bias_check(
    metric: str, cand: float | None, champ: float | None, tolerance: float, interval: Interval | None = None
) -> GateCheck | None:
    if cand is None or champ is None:
        return _missing(metric, "bias", cand, champ)
    spec = spec_for(metric)
    assert spec is not None and spec.ideal is not None  # RegistryConfig checked it
    limit = spec.distance(champ) + tolerance
    if interval is not None:
        passed = _distance_low(interval, spec.ideal) <= limit + _EPS
        note = f"CI [{interval[0]:.4g}, {interval[1]:.4g}] allows |value - {spec.ideal:g}| <= {limit:.4g}"
        return GateCheck(metric, "bias", cand, champ, limit, passed, note)
    passed = spec.distance(cand) <= limit + _EPS
    return GateCheck(metric, "bias", cand, champ, limit, passed, f"|value - {spec.ideal:g}| <= {limit:.4g}")


def _ability_check(
    metric: str, cand: float | None, champ: float | None, tolerance: float, interval: Interval | None = None
) -> GateCheck | None:
    """Fails when the candidate is (detectably, given its interval) past the tolerated limit."""
    if cand is None or champ is None:
        return _missing(metric, "ability", cand, champ)
    spec = spec_for(metric)
    low, high = interval if interval is not None else (cand, cand)
    where = f"CI [{low:.4g}, {high:.4g}] reaches " if interval is not None else ""
    if spec is not None and spec.better == "lower":
        limit = champ + abs(champ) * tolerance
        return GateCheck(metric, "ability", cand, champ, limit, low <= limit + _EPS, f"{where}<= {limit:.4g}")
    limit = champ - abs(champ) * tolerance
    return GateCheck(metric, "ability", cand, champ, limit, high >= limit - _EPS, f"{where}>= {limit:.4g}")
