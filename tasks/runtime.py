"""Tasks: what a lifecycle run shares across its nodes: one Ray instance and one warm runner."""

from pathlib import Path

from prefect import task

from causal_llm.ops.nodes import check_ray_capacity, current_lifecycle, share_cpus
from causal_llm.ops.ray_cluster import ray_cpus, start_ray, started_here, stop_ray
from causal_llm.ops.warm_runner import PRELOAD, WarmRunner

_RUNNERS: dict[str, WarmRunner] = {}


@task(name="start-ray")
def start_ray_instance() -> int | None:
    """Starts (or joins) the run's Ray instance; returns a joined cluster's CPUs, or None for an
    instance of this machine's cores (the board then hands out one pool to every node)."""
    own = start_ray() is not None and started_here()
    cpus = ray_cpus()
    check_ray_capacity(current_lifecycle(), cpus)
    return None if own else cpus


@task(name="share-cpus")
def share_cpus_between_nodes(parallel: int) -> int:
    return share_cpus(parallel)


@task(name="stop-ray")
def stop_ray_instance() -> None:
    stop_ray()


@task(name="start-warm-runner")
def start_warm_runner() -> str:
    """Forks every node's process from one that imported the stack once (see the module)."""
    runner = WarmRunner(Path(".causal_llm/run"), (*PRELOAD, "app.cli"))
    _RUNNERS[runner.start()] = runner
    return runner.path


@task(name="stop-warm-runner")
def stop_warm_runner(path: str) -> None:
    runner = _RUNNERS.pop(path, None)
    if runner is not None:
        runner.stop()
