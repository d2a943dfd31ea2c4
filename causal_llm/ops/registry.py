"""The model registry driver: every model variant becomes a ``candidate``; ``champion`` moves only
when the candidate passes the gates (``causal_llm.gates``) against the current champion.

The metrics a version was judged on are stored as its tags (``metric.<name>``), so a later candidate
is compared with exactly the numbers that made the champion, whatever happened to the runs since.
A registered version's artifact is the variant's self-contained bundle: ``models:/NAME@champion``
alone loads it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from causal_llm.gates import GateCheck, RegistryConfig, check_gates
from causal_llm.lifecycle import MODEL_STAGES
from causal_llm.metrics import spec_for


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


def variant_metrics(rows: Sequence[Mapping[str, Any]], variant: str, names: Sequence[str]) -> dict[str, float]:
    """The gate metrics of one variant from the evaluate stage's rows."""
    wanted = set(names)
    return {
        r["metric"]: float(r["value"])
        for r in rows
        if r["variant"] == variant and r["metric"] in wanted and math.isfinite(r["value"]) and r.get("baseline") is None
    }


def variant_intervals(rows: Sequence[Mapping[str, Any]], variant: str, names: Sequence[str]) -> dict[str, tuple]:
    """The candidate's CIs of its gate metrics and their guards (rows of the variant, not its differences)."""
    wanted = set(names) | {g for n in names if (s := spec_for(n)) is not None and (g := s.guard)}
    return {
        r["metric"]: (float(r["ci_low"]), float(r["ci_high"]))
        for r in rows
        if r["variant"] == variant and r["metric"] in wanted and r.get("baseline") is None
        and math.isfinite(r["ci_low"]) and math.isfinite(r["ci_high"])
    }  # fmt: skip


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
    ``lineage`` (per variant: the chain of what it starts from) keeps a model fine-tuned from one base
    from being judged against a champion fine-tuned from another.

    A model identical to the current candidate (same content hash) is not registered again.
    """
    lineage = lineage or {}
    decisions = []
    gate_names = [*cfg.bias_metrics, *cfg.ability_metrics]
    for run in stage_runs:
        variant = run["tags"].get("variant", "")
        if run["tags"].get("stage") not in MODEL_STAGES or not (models_dir / variant).is_dir():
            continue
        name = registered_name(cfg, profile, variant)
        sha = folder_sha256(models_dir / variant)
        guards = [g for n in gate_names if (spec := spec_for(n)) is not None and (g := spec.guard)]
        metrics = variant_metrics(eval_rows, variant, [*gate_names, *guards])
        intervals = variant_intervals(eval_rows, variant, gate_names)
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
            "lineage": lineage.get(variant, ""),
            **{f"metric.{k}": f"{v:.10g}" for k, v in metrics.items()},
            **{f"ci.{k}": f"{lo:.10g},{hi:.10g}" for k, (lo, hi) in intervals.items()},
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
            champ_intervals = {
                k.removeprefix("ci."): tuple(float(x) for x in v.split(","))
                for k, v in champion["tags"].items()
                if k.startswith("ci.") and v.count(",") == 1
            }
            passed, checks = check_gates(metrics, champ_metrics, cfg, intervals, champ_intervals)  # type: ignore[arg-type]
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


def lineage_of(lc: Any, variant_id: str) -> str:
    """``finetune/sft (sft) <- smollm2-135m-instruct``: the chain of what a model variant starts from,
    with each step's method, so a champion is never replaced by a model made another way."""
    chain, current = [], variant_id
    while current in lc.by_id:
        v = lc.variant_of(current)
        chain.append(f"{current} ({v.method})")
        starts = lc.starts_from(current) if current in lc.replicas else list(v.starts_from)
        current = starts[0] if starts else "testbed"
        if current == "testbed":
            break
    if current not in lc.by_id:
        chain.append(current)
    return " <- ".join(chain)


def register_models(tracker: Any, parent_id: str, lc: Any, tags: Mapping[str, str], out: Path) -> list[Decision]:
    """Register the lifecycle's model variants and apply the promotion gates; the decisions go to
    ``out`` (``promotion.{json,txt}``) and to the parent run as artifacts."""
    from causal_llm.corpus import read_json, write_json
    from causal_llm.dag import MODELS
    from causal_llm.ops.provenance import git_commit

    params = lc.params
    if not params.registry.enabled:
        return []
    children = tracker.find_runs(f"tags.`mlflow.parentRunId` = '{parent_id}'", max_results=1000)
    rows = read_json(Path(lc.by_id["report"].outs[0].path) / "results.json")
    tags = {**tags, "lifecycle_run": parent_id, "profile": params.profile, "git.commit": git_commit()}
    lineage = {v.id: lineage_of(lc, v.id) for v in params.variants() if v.stage in MODEL_STAGES}
    # A variant trained at several seeds registers its first seed's model; its gate rows are the seed means.
    children = [c for c in children if c["tags"].get("variant") not in lc.replicas or c["tags"]["variant"] in lineage]
    decisions = register_and_promote(tracker, params.registry, params.profile, children, rows, MODELS, tags, lineage)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "promotion.json", [d.to_dict() for d in decisions])
    (out / "promotion.txt").write_text(format_decisions(decisions) + "\n")
    tracker.log_artifacts(parent_id, out, "registry")
    return decisions
