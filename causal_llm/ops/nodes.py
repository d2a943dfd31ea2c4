"""Running one node of a lifecycle run: DVC decides and runs it, then its MLflow child run is logged.

What the Prefect task of a node calls (``tasks/nodes.py``); tests call it directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from causal_llm.dag import Lifecycle
from causal_llm.ops.dvc import dvc_repro
from causal_llm.ops.runs import log_node, tracker_for
from causal_llm.params import load_params

_CACHE: dict[str, Lifecycle] = {}


def current_lifecycle(params_file: str | Path = "params.yaml") -> Lifecycle:
    """The lifecycle of ``params_file`` as it is now (cached by its content: tasks ask often)."""
    text = Path(params_file).read_bytes()
    key = f"{Path(params_file).resolve()}:{hashlib.sha256(text).hexdigest()}"
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = Lifecycle(load_params(params_file))
    return _CACHE[key]


def execute_node(
    node_id: str,
    parent_run_id: str | None,
    tracking_uri: str,
    experiment: str,
    tags: Mapping[str, str],
    force: bool = False,
    params_file: str = "params.yaml",
) -> bool:
    """Reproduce ``node_id`` through DVC and log it; returns False when DVC found it up to date."""
    lc = current_lifecycle(params_file)
    node = lc.by_id[node_id]
    ran = dvc_repro(node, force)
    if parent_run_id:
        log_node(tracker_for(tracking_uri, experiment), parent_run_id, node, lc, ran, tags)
    return ran


def node_plan(params_file: str = "params.yaml") -> list[dict[str, Any]]:
    """The nodes, what each waits for, and the CPUs each takes while it runs: a training node its Ray
    Train job's (``on_ray``), any other node its torch threads. What the flows build their DAG from."""
    lc = current_lifecycle(params_file)
    threads = node_threads(lc.params.runtime.parallel)
    plan = []
    for n in lc.nodes:
        on_ray = ray_cpus_of(lc, n.id)
        plan.append(
            {
                "id": n.id,
                "stage": n.stage,
                "upstream": list(n.upstream),
                "cpus": on_ray or threads,
                "on_ray": bool(on_ray),
            }
        )
    return plan


def ray_cpus_of(lc: Lifecycle, node_id: str) -> int:
    """CPUs a training node's Ray Train job holds (num_workers x cpus_per_worker); 0 for other nodes."""
    node = lc.by_id[node_id]
    if not node.resolved.get("trains"):
        return 0
    ray = lc.params.stages[node.stage].settings.ray
    return ray.num_workers * ray.cpus_per_worker


def check_ray_capacity(lc: Lifecycle, cpus: int) -> None:
    """A training job that can never fit in the Ray instance is bad input, named before any compute."""
    from causal_llm.config import ParamsError

    for node in lc.nodes:
        need = ray_cpus_of(lc, node.id)
        if need > cpus:
            raise ParamsError(
                f"{lc.params.source}.{node.stage}.ray: {node.id} needs {need} CPUs (num_workers x cpus_per_worker) "
                f"and the Ray instance has {cpus}; lower them, or join a larger cluster with RAY_ADDRESS."
            )


def node_threads(parallel: int) -> int:
    """Torch threads of a node that computes in its own process: ``parallel`` of them fill the machine."""
    import os

    return max(1, (os.cpu_count() or 1) // parallel)


def share_cpus(parallel: int) -> int:
    """Give each node that computes in its own process ``node_threads`` torch threads (the board hands
    out the CPUs), instead of torch's default of every core for every process."""
    import os

    threads = node_threads(parallel)
    os.environ["CAUSAL_LLM_THREADS"] = str(threads)  # inherited by dvc and the stage processes it runs
    return threads
