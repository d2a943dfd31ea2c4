"""The model registry's gate: every stage model becomes a ``candidate``; ``champion`` moves only when
the candidate's evaluation is no more biased than the champion's and its ability is within a tolerance.

The metrics a version was judged on are stored as its tags (``metric.<name>``), so a later candidate
is compared with exactly the numbers that made the champion, whatever happened to the runs since.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from causal_llm.config import RegistryConfig
from causal_llm.report import IDEALS

REGISTERED_STAGES = ("pretrain", "finetune", "align")
LOWER_IS_BETTER = {"perplexity", "likelihood_diff"}  # ability metrics where smaller is better
_EPS = 1e-12  # identical retrains must pass "no worse" despite float noise in the last bit


@dataclass(frozen=True)
class GateCheck:
    metric: str
    kind: str  # "bias" (distance from the unbiased value) or "ability"
    candidate: float | None
    champion: float | None
    limit: float | None  # the worst value the candidate may have
    passed: bool
    note: str = ""


@dataclass(frozen=True)
class Decision:
    model: str
    variant: str
    version: str
    promoted: bool
    champion_before: str | None
    reason: str
    checks: list[GateCheck] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def registered_name(cfg: RegistryConfig, profile: str, variant: str) -> str:
    """``pretrain/cda`` under profile smoke -> ``causal-llm-smoke-pretrain-cda``: one lineage per variant and
    profile, so a smoke model is never judged against a default-profile champion."""
    return f"{cfg.model_prefix}-{profile}-{variant.replace('/', '-')}"


def check_gates(
    candidate: Mapping[str, float], champion: Mapping[str, float], cfg: RegistryConfig
) -> tuple[bool, list[GateCheck]]:
    """Both gates, metric by metric. A metric the champion has and the candidate lacks fails; one
    neither has is skipped (not every variant is scored on everything)."""
    checks = [_bias_check(m, candidate.get(m), champion.get(m), cfg.bias_tolerance) for m in cfg.bias_metrics]
    checks += [_ability_check(m, candidate.get(m), champion.get(m), cfg.ability_tolerance) for m in cfg.ability_metrics]
    checks = [c for c in checks if c is not None]
    return all(c.passed for c in checks), checks


def _missing(metric: str, kind: str, cand: float | None, champ: float | None) -> GateCheck | None:
    if cand is None and champ is None:
        return None
    if cand is None:
        return GateCheck(metric, kind, None, champ, None, False, "the candidate was not scored on it")
    return GateCheck(metric, kind, cand, None, None, True, "the champion has no value")


def _bias_check(metric: str, cand: float | None, champ: float | None, tolerance: float) -> GateCheck | None:
    if cand is None or champ is None:
        return _missing(metric, "bias", cand, champ)
    ideal = IDEALS[metric.rsplit("/", 1)[-1]]
    limit = abs(champ - ideal) + tolerance
    passed = abs(cand - ideal) <= limit + _EPS
    return GateCheck(metric, "bias", cand, champ, limit, passed, f"|value - {ideal:g}| <= {limit:.4g}")


def _ability_check(metric: str, cand: float | None, champ: float | None, tolerance: float) -> GateCheck | None:
    if cand is None or champ is None:
        return _missing(metric, "ability", cand, champ)
    if metric.rsplit("/", 1)[-1] in LOWER_IS_BETTER:
        limit = champ + abs(champ) * tolerance
        return GateCheck(metric, "ability", cand, champ, limit, cand <= limit + _EPS, f"<= {limit:.4g}")
    limit = champ - abs(champ) * tolerance
    return GateCheck(metric, "ability", cand, champ, limit, cand >= limit - _EPS, f">= {limit:.4g}")


def check_gate_metrics(cfg: RegistryConfig) -> None:
    """Bias metrics need a known unbiased value to measure the distance from."""
    for metric in cfg.bias_metrics:
        if metric.rsplit("/", 1)[-1] not in IDEALS:
            raise ValueError(
                f"registry.bias_metrics: '{metric}' has no known unbiased value; use one of {', '.join(sorted(IDEALS))}"
            )


def variant_metrics(rows: Sequence[Mapping[str, Any]], variant: str, names: Sequence[str]) -> dict[str, float]:
    """The gate metrics of one variant from the evaluate stage's rows."""
    wanted = set(names)
    return {
        r["metric"]: float(r["value"])
        for r in rows
        if r["variant"] == variant and r["metric"] in wanted and math.isfinite(r["value"])
    }


def folder_sha256(folder: Path) -> str:
    """Content hash of a model folder (names and bytes), to tell a retrained model from an unchanged one."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def register_and_promote(
    tracker: Any,
    cfg: RegistryConfig,
    profile: str,
    stage_runs: Sequence[Mapping[str, Any]],
    eval_rows: Sequence[Mapping[str, Any]],
    models_dir: Path,
    tags: Mapping[str, str],
    lineage: Mapping[str, str] | None = None,
) -> list[Decision]:
    """Register each stage run's ``model`` artifact, alias it ``candidate``, and move ``champion`` when
    the gates pass. ``stage_runs`` are the lifecycle's child runs (tags ``stage`` and ``variant``).
    ``lineage`` (per stage: what its models start from) keeps a model fine-tuned from one base from
    being judged against a champion fine-tuned from another.

    A model identical to the current candidate (same content hash) is not registered again.
    """
    lineage = lineage or {}
    decisions = []
    gate_names = [*cfg.bias_metrics, *cfg.ability_metrics]
    for run in stage_runs:
        variant = run["tags"].get("variant", "")
        if run["tags"].get("stage") not in REGISTERED_STAGES or not (models_dir / variant).is_dir():
            continue
        name = registered_name(cfg, profile, variant)
        sha = folder_sha256(models_dir / variant)
        metrics = variant_metrics(eval_rows, variant, gate_names)
        current = tracker.model_version(name, "candidate")
        champion = tracker.model_version(name, "champion")
        champion_version = champion["version"] if champion else None
        if current and current["tags"].get("model.sha256") == sha:
            promoted = champion_version == current["version"]
            state = "it is the champion" if promoted else f"champion stays {champion_version}"
            reason = f"unchanged since version {current['version']} (same weights); {state}"
            decisions.append(Decision(name, variant, current["version"], promoted, champion_version, reason))
            continue
        version_tags = {
            **tags,
            "stage": run["tags"]["stage"],
            "variant": variant,
            "source_run": run["run_id"],
            "model.sha256": sha,
            "lineage": lineage.get(run["tags"]["stage"], ""),
            **{f"metric.{k}": f"{v:.10g}" for k, v in metrics.items()},
        }
        version = tracker.register_model(name, run["run_id"], "model", version_tags)
        tracker.set_alias(name, "candidate", version)
        if champion is None:
            passed, checks, reason = True, [], "first version: no champion to compare against"
        elif champion["tags"].get("lineage", "") != version_tags.get("lineage", ""):
            passed, checks = False, []
            reason = f"not comparable: champion comes from {champion['tags'].get('lineage') or 'another lineage'}"
        else:
            champ_metrics = {
                k.removeprefix("metric."): float(v) for k, v in champion["tags"].items() if k.startswith("metric.")
            }
            passed, checks = check_gates(metrics, champ_metrics, cfg)
            compared = any(c.candidate is not None and c.champion is not None for c in checks)
            if not passed:
                reason = f"failed: {', '.join(c.metric for c in checks if not c.passed)}"
            elif not compared:  # nothing shows the candidate is no worse
                passed, reason = False, "no gate metric measured for both candidate and champion"
            else:
                reason = "passed both gates"
        if passed:
            tracker.set_alias(name, "champion", version)
        tracker.set_version_tags(name, version, {"gate.passed": str(passed).lower(), "gate.reason": reason})
        decisions.append(Decision(name, variant, version, passed, champion_version, reason, checks))
    return decisions


def format_decisions(decisions: Sequence[Decision]) -> str:
    if not decisions:
        return "registry: no stage models to register"
    width = max(len(d.model) for d in decisions)
    lines = [f"{'registered model':<{width}}  {'version':>7}  {'champion':<8}  reason"]
    for d in decisions:
        lines.append(f"{d.model:<{width}}  {d.version:>7}  {'yes' if d.promoted else 'no':<8}  {d.reason}")
        for c in d.checks:
            mark = "ok  " if c.passed else "FAIL"
            cand = "-" if c.candidate is None else f"{c.candidate:.4g}"
            champ = "-" if c.champion is None else f"{c.champion:.4g}"
            lines.append(f"{'':<{width}}    {mark} {c.kind:<7} {c.metric}: {cand} vs champion {champ} ({c.note})")
    return "\n".join(lines)
