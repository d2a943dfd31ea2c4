"""Reading lifecycle runs back from MLflow for ``causal_llm.compare``, and the ``compare`` run.

Rows come from each lifecycle parent run's ``results/results.json`` (the report node's table);
scorer and data provenance come from its ``evaluate/<model>`` child runs (``scorer.*`` params and
``dvc.dep.*`` tags).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from causal_llm.compare import (
    RESULTS_ARTIFACT,
    ROW_KEYS,
    ComparedRun,
    Comparison,
    benchmarks_of,
    compare,
    write_comparison,
)
from causal_llm.evaluate.report import BREAKDOWN_KEYS
from causal_llm.registry import NotFound
from causal_llm.tracking import MlflowTracker, metric_key

# Breakdown keys seen in the benchmarks' metric names beyond report.BREAKDOWN_KEYS (for unsanitising).
_EXTRA_BREAKDOWN_KEYS = ("graph_id", "n_variables")


def load_runs(tracker: MlflowTracker, run_ids: Sequence[str] | None = None, n_latest: int = 2) -> list[ComparedRun]:
    """The lifecycle runs to compare: ``run_ids`` in the order given, or else the newest ``n_latest``
    FINISHED lifecycle parent runs of the tracker's experiment, oldest first."""
    records = _runs_by_id(tracker, list(run_ids)) if run_ids else _latest_lifecycle_runs(tracker, n_latest)
    raw = [(r, tracker.read_json_artifact(r["run_id"], RESULTS_ARTIFACT)) for r in records]
    # Metric names as the report wrote them, to undo MLflow's key sanitising for a run that lacks the report.
    known = {
        metric_key(row["metric"]): row["metric"]
        for _, rows in raw
        if isinstance(rows, list)
        for row in rows
        if isinstance(row, Mapping) and isinstance(row.get("metric"), str)
    }
    return [_compared_run(tracker, record, rows, known) for record, rows in raw]


def _latest_lifecycle_runs(tracker: MlflowTracker, n_latest: int) -> list[dict[str, Any]]:
    if n_latest < 2:
        raise ValueError(f"n_latest={n_latest}: a comparison needs at least 2 runs.")
    candidates = [r for r in tracker.find_runs("attributes.run_name LIKE 'lifecycle-%'", 1000) if _is_lifecycle(r)]
    finished = [r for r in candidates if r["status"] == "FINISHED"]
    if len(finished) < 2:
        others = len(candidates) - len(finished)
        raise ValueError(
            f"experiment has {len(finished)} finished lifecycle run(s)"
            + (f" ({others} more failed or still running)" if others else "")
            + "; a comparison needs 2. Finish another lifecycle run (`causal-llm run`), "
            "or name the runs to compare by id."
        )
    return finished[:n_latest][::-1]


def _runs_by_id(tracker: MlflowTracker, run_ids: list[str]) -> list[dict[str, Any]]:
    if len(run_ids) < 2:
        raise ValueError(f"got {len(run_ids)} run id(s); a comparison needs at least 2.")
    twice = sorted({i for i in run_ids if run_ids.count(i) > 1})
    if twice:
        raise ValueError(f"run id(s) given twice: {', '.join(twice)}")
    quoted = ", ".join(f"'{i}'" for i in run_ids if re.fullmatch(r"\w+", i))
    found = (
        {r["run_id"]: r for r in tracker.find_runs(f"attributes.run_id IN ({quoted})", len(run_ids))} if quoted else {}
    )
    for run_id in run_ids:
        record = found.get(run_id)
        if record is None:
            raise NotFound(
                f"run '{run_id}' not found in this experiment (id {tracker.experiment_id} at {tracker.tracking_uri})."
            )
        parent = record["tags"].get("mlflow.parentRunId")
        if parent:
            raise ValueError(
                f"run '{run_id}' ({record['run_name']}) is a child run; pass its parent lifecycle run '{parent}'."
            )
        if not _is_lifecycle(record):
            kind = record["tags"].get("causal_llm.run_type", "untagged")
            raise ValueError(f"run '{run_id}' ({record['run_name']}, run type {kind}) is not a lifecycle run.")
    return [found[i] for i in run_ids]


def _is_lifecycle(record: Mapping[str, Any]) -> bool:
    """Tagged as one, or (runs logged before the tag existed) a top-level run named lifecycle-<profile>."""
    tags = record["tags"]
    if "mlflow.parentRunId" in tags:
        return False
    kind = tags.get("causal_llm.run_type")
    return kind == "lifecycle" or (kind is None and str(record["run_name"]).startswith("lifecycle-"))


def _compared_run(
    tracker: MlflowTracker, record: Mapping[str, Any], rows: Any, known: Mapping[str, str]
) -> ComparedRun:
    run_id = record["run_id"]
    children = tracker.find_runs(f"tags.`mlflow.parentRunId` = '{run_id}'", 1000)[::-1]  # oldest first
    evaluate = [c for c in children if c["tags"].get("stage") == "evaluate"]
    scorers = {_variant(c): _scorer_params(c["params"]) for c in evaluate}
    hashes = {
        _variant(c): {k.removeprefix("dvc.dep."): v for k, v in c["tags"].items() if k.startswith("dvc.dep.")}
        for c in evaluate
    }
    warnings, source = [], RESULTS_ARTIFACT
    if isinstance(rows, list) and all(isinstance(r, Mapping) and set(ROW_KEYS) <= set(r) for r in rows):
        rows = tuple({k: r[k] for k in ROW_KEYS} for r in rows)
    else:
        source = "child runs"
        rows = tuple(r for c in children for r in _child_rows(c, known, benchmarks_of(scorers.values())))
        warnings.append(
            f"run {run_id[:8]} ({record['run_name']}) has no readable {RESULTS_ARTIFACT} (did its report stage "
            "run?): its rows were rebuilt from its data/evaluate child runs' metrics; n is unknown there and metric "
            "names are recovered from MLflow's sanitised keys as well as possible."
        )
    if record["status"] != "FINISHED":
        warnings.append(f"run {run_id[:8]} ({record['run_name']}) is {record['status']}: its rows may be partial.")
    if not evaluate:
        warnings.append(
            f"run {run_id[:8]} ({record['run_name']}) has no evaluate child runs: its scorers and data hashes "
            "cannot be checked against the other runs."
        )
    return ComparedRun(
        run_id,
        str(record["run_name"]),
        int(record["start_time"] or 0),
        rows,
        scorers,
        hashes,
        str(record["status"]),
        dict(record["tags"]),
        dict(record["params"]),
        source,
        tuple(warnings),
    )


def _variant(child: Mapping[str, Any]) -> str:
    return str(child["run_name"]).removeprefix("evaluate/")


def _scorer_params(params: Mapping[str, str]) -> dict[str, str]:
    return {k.removeprefix("scorer."): v for k, v in params.items() if k.startswith("scorer.")}


def _child_rows(child: Mapping[str, Any], known: Mapping[str, str], benchmarks: set[str]) -> list[dict[str, Any]]:
    """Rows from a data or evaluate child run's ``<key>``, ``<key>_ci_low``, ``<key>_ci_high`` metrics."""
    stage_tag = child["tags"].get("stage")
    if stage_tag not in ("data", "evaluate"):
        return []
    variant = _variant(child)
    stage = variant.split("/", 1)[0] if "/" in variant else "base"
    metrics = child["metrics"]
    rows = []
    for key in sorted(metrics):
        if key.endswith(("_ci_low", "_ci_high")) or f"{key}_ci_low" not in metrics:
            continue
        rows.append(
            {
                "variant": variant,
                "stage": stage,
                "metric": known.get(key) or _unsanitise(key, benchmarks),
                "value": metrics[key],
                "ci_low": metrics[f"{key}_ci_low"],
                "ci_high": metrics.get(f"{key}_ci_high", math.nan),
                "n": None,
            }
        )
    return rows


def _unsanitise(key: str, benchmarks: set[str]) -> str:
    """Best effort: ``cladder_gen.accuracy.rung_3`` -> ``cladder_gen/accuracy/rung=3``."""
    bench = next((b for b in sorted(benchmarks, key=len, reverse=True) if key.startswith(f"{b}.")), None)
    if bench is None:
        return key.replace(".", "/")
    metric, _, breakdown = key.removeprefix(f"{bench}.").partition(".")
    if not breakdown:
        return f"{bench}/{metric}"
    group = next((k for k in (*BREAKDOWN_KEYS, *_EXTRA_BREAKDOWN_KEYS) if breakdown.startswith(f"{k}_")), None)
    name, value = (group, breakdown[len(group) + 1 :]) if group else breakdown.rsplit("_", 1)
    return f"{bench}/{metric}/{name}={value}"


def run_comparison(
    tracking_uri: str,
    experiment: str,
    run_ids: Sequence[str] | None,
    out_dir: str | Path,
    log: bool = True,
    n_latest: int = 2,
) -> tuple[Comparison, list[Path], str | None]:
    """Load, compare and write; with ``log``, the files become the artifacts (under ``comparison``) of a
    new run named ``compare`` in the same experiment, whose id is returned."""
    tracker = MlflowTracker(tracking_uri, experiment, create=False)
    comparison = compare(load_runs(tracker, run_ids, n_latest))
    paths = write_comparison(comparison, out_dir)
    if not log:
        return comparison, paths, None
    tags = {
        "causal_llm.run_type": "compare",
        "compared_runs": ",".join(r.run_id for r in comparison.runs),
        "compare.warnings": str(len(comparison.warnings)),
    }
    run = tracker.start_run("compare", tags=tags)
    try:
        for path in paths:
            tracker.log_artifacts(run, path, "comparison")
    except BaseException:
        tracker.end_run(run, "FAILED")
        raise
    tracker.end_run(run, "FINISHED")
    return comparison, paths, run
