"""The MLflow run layout: one parent run per lifecycle run, one child run per node (stage, variant).

A child run holds the node's effective config (params), its metrics with CIs, its training-loss
curve, its model folder (a self-contained bundle) or per-item tables, and tags: stage, variant,
method, what it starts from, the git commit, the DVC hashes of its inputs, the Prefect flow-run id
and whether DVC skipped it. The report node's table and plots go to the parent run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from causal_llm.corpus import read_json
from causal_llm.dag import Lifecycle, Node, evaluate_dir, infer_dir, metrics_file, model_dir
from causal_llm.ops.dvc import input_hashes
from causal_llm.ops.provenance import git_commit
from causal_llm.timing import record
from causal_llm.tracking import Tracker, flatten, make_tracker, metrics_with_ci

UNLOGGED = ("params", "testbed", "benchmarks")  # inputs of every variant: their hashes tag the child runs


class LockedTracker:
    """One tracker shared by the threads of a lifecycle run, one call at a time (SQLite is one writer)."""

    def __init__(self, tracker: Tracker) -> None:
        self._tracker, self._lock = tracker, threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._tracker, name)
        if not callable(attr):
            return attr

        def locked(*args: Any, **kwargs: Any) -> Any:
            started = time.time()
            with self._lock:
                try:
                    return attr(*args, **kwargs)
                finally:
                    record("mlflow", name, started, time.time())

        return locked


@lru_cache(maxsize=8)
def tracker_for(tracking_uri: str, experiment: str) -> LockedTracker:
    """The process's tracker for this store and experiment (made once: MLflow clients are not cheap)."""
    return LockedTracker(make_tracker(tracking_uri, experiment))


def start_parent_run(tracker: Any, name: str, params: Any, tags: Mapping[str, str]) -> str:
    run = tracker.start_run(name, tags={**tags, "git.commit": git_commit(), "profile": params.profile})
    tracker.log_params(run, flatten(params.to_dict()))
    return run


def node_tags(node: Node, lc: Lifecycle, ran: bool, tags: Mapping[str, str]) -> dict[str, str]:
    resolved = node.resolved
    out = {
        **tags,
        "stage": node.stage,
        "variant": node.id,
        "node": node.id,
        "dvc.stage": node.dvc_name,
        "dvc.skipped": str(not ran).lower(),
        "git.commit": git_commit(),
        **input_hashes(node),
    }
    if "method" in resolved:
        out |= {"method": resolved["method"], "from": ",".join(resolved["from"]) or "testbed"}
    if "model" in resolved:
        out["model"] = resolved["model"]["label"]
    return out


def _scalars(summary: Mapping[str, Any]) -> dict[str, float]:
    return {k: v for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def log_node(tracker: Any, parent_id: str, node: Node, lc: Lifecycle, ran: bool, tags: Mapping[str, str]) -> str | None:
    """The node's child run under ``parent_id`` (or, for the report, the parent's table); returns its id."""
    if node.id in UNLOGGED:
        return None
    if node.id == "report":
        out = Path(node.outs[0].path)
        tracker.log_artifacts(parent_id, out, "results")
        for row in read_json(out / "results.json"):
            tracker.log_metrics(parent_id, {f"{row['variant']}/{row['metric']}": row["value"]})
        return parent_id
    run = tracker.start_run(node.id, parent_id, node_tags(node, lc, ran, tags))
    try:
        tracker.log_params(run, flatten(node.resolved))
        if node.stage == "data":
            tracker.log_metrics(run, metrics_with_ci(read_json(metrics_file(node.id))["rows"]))
        elif node.resolved.get("trains"):
            summary = read_json(metrics_file(node.id))
            tracker.log_metrics(run, _scalars(summary))
            if summary.get("losses"):
                tracker.log_history(run, "train_loss", summary["losses"])
            tracker.log_artifacts(run, model_dir(node.id), "model")
        elif node.stage == "infer":
            rows = read_json(metrics_file(node.id))["rows"]
            tracker.log_metrics(run, metrics_with_ci([{**r, "metric": f"{r['variant']}/{r['metric']}"} for r in rows]))
            tracker.log_artifacts(run, infer_dir(node.id) / "answers.jsonl")
        elif node.stage == "evaluate":
            model = lc.model(node.resolved["model"]["ref"])
            results = read_json(evaluate_dir(model) / "results.json")
            per_benchmark = {b["benchmark"]: b["scorer"] for b in results["benchmarks"]}
            tracker.log_params(run, {"scorer": {**results["scorer"], **per_benchmark}})
            tracker.log_metrics(run, metrics_with_ci([r for r in results["rows"] if r["variant"] == model.label]))
            tracker.log_artifacts(run, evaluate_dir(model) / "items", "items")
    except BaseException:
        tracker.end_run(run, "FAILED")
        raise
    tracker.end_run(run)  # a child run is complete once logged; the parent ends with the lifecycle
    return run
