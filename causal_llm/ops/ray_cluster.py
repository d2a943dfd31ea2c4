"""The lifecycle run's one Ray instance, shared by every training task.

Without ``RAY_ADDRESS`` the run starts a local head in its own process (bound to 127.0.0.1) and
exports its address, so every stage process DVC starts joins it instead of starting its own (a fit
on a fresh instance costs the start-up of the whole instance again). With ``RAY_ADDRESS`` the run
joins that cluster and starts nothing.
"""

from __future__ import annotations

import os
import time

from causal_llm.ops.endpoints import check_ray
from causal_llm.timing import record

# Ray Train starts a watcher actor per fit for nodes a cloud drains (spot instances): on the run's own
# local instance there is none to drain, and each actor is a process start-up on the fit's path.
PREEMPTION_WATCHER = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"
_STARTED: dict[str, str] = {}  # the address of the instance this process started (to stop it again)


def start_ray(num_cpus: int | None = None) -> str:
    """The address of the run's Ray instance: ``RAY_ADDRESS``, or a local head started here with
    ``num_cpus`` logical CPUs (default: this machine's)."""
    address = os.environ.get("RAY_ADDRESS")
    if address and address not in _STARTED.values():
        check_ray(address)
        return address
    import ray

    started = time.time()
    if not ray.is_initialized():
        ray.init(
            num_cpus=num_cpus or os.cpu_count(),
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,  # each stage process is its own driver and shows its own workers' output
        )
    address = ray.get_runtime_context().gcs_address
    _STARTED["address"] = address
    os.environ["RAY_ADDRESS"] = address  # inherited by dvc and the stage processes it runs
    if PREEMPTION_WATCHER not in os.environ:  # one machine: no node is drained; one process less per fit
        os.environ[PREEMPTION_WATCHER] = _STARTED["watcher"] = "0"
    record("ray-start", "lifecycle", started, time.time())
    return address


def started_here() -> bool:
    """Whether this process started the run's Ray instance (on this machine's cores)."""
    return "address" in _STARTED


def ray_cpus() -> int:
    """The CPUs of the Ray instance this process started or joined (``start_ray`` first)."""
    import ray

    if not ray.is_initialized():
        ray.init(address=os.environ["RAY_ADDRESS"])
        _STARTED.setdefault("joined", os.environ["RAY_ADDRESS"])
    return int(ray.cluster_resources().get("CPU", 0))


def stop_ray() -> None:
    """Stop the instance ``start_ray`` started, or leave the cluster ``ray_cpus`` joined (it stays up)."""
    joined, address = _STARTED.pop("joined", None), _STARTED.pop("address", None)
    if joined is None and address is None:
        return
    import ray

    ray.shutdown()
    if address is not None and os.environ.get("RAY_ADDRESS") == address:
        del os.environ["RAY_ADDRESS"]
    if _STARTED.pop("watcher", None) is not None:
        os.environ.pop(PREEMPTION_WATCHER, None)
