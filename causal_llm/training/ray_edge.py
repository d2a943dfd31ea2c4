"""Ray Train at the edge: every training job of the lifecycle runs as one ``TorchTrainer`` job.

A ``TrainJob`` names an importable training function ``fn(ctx, payload) -> summary`` and the
plain-data payload it needs. ``fit_on_ray`` runs it on ``num_workers`` Ray workers with
``cpus_per_worker`` CPUs (and as many torch threads: Ray starts workers with one), under a run
name that is stable for the same inputs (``TrainJob.fingerprint``): Ray Train finds the run's
snapshot in its storage after a kill and the function resumes from the latest checkpoint
(``FailureConfig`` does the same for a worker that dies mid-run). Rank 0 writes the finished model
into the final checkpoint, which the driver copies to the stage's output folder. ``run_locally``
runs the same job in this process, which is how unit tests train.

Ray is imported only inside these functions. ``RAY_ADDRESS`` names the instance to join (the
lifecycle run starts one and shares it with every training task); without it a local instance is
started for this process.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from causal_llm.training.config import RayScalingConfig

FINAL_MARKER = "FINAL.json"  # in the last checkpoint: the finished model and its summary


@dataclass(frozen=True)
class TrainJob:
    node: str  # "pretrain/baseline": progress lines and the run name say which variant this is
    entry: str  # "package.module:function", called as function(ctx, payload) on every worker
    payload: dict[str, Any]
    plugins: tuple[str, ...] = ()  # params.yaml plugins the entry's method may come from (absolute paths)
    inputs: tuple[str, ...] = ()  # files and folders the job reads: part of its fingerprint
    # Small local model folders the job reads, shipped with it for workers on other machines:
    # {payload["inputs"] key: {relative path: bytes}}; used where the path does not exist.
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    # The source of each plugin file, for workers on machines that do not have it: {path: source}.
    plugin_sources: dict[str, str] = field(default_factory=dict)
    # What else makes a checkpoint another run's: the code the job runs (file digests), its world
    # size, the library versions. A resumed run continues only the same computation.
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """Stable for the same entry, payload, context and input contents; anything else is another run."""
        what = [self.entry, self.payload, self.context]
        digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode())
        for path in self.inputs:
            digest.update(content_digest(Path(path)).encode())
        return digest.hexdigest()

    @property
    def run_name(self) -> str:
        return f"{self.node.replace('/', '-')}-{self.fingerprint[:16]}"


def content_digest(path: Path, limit: int = 256 << 20) -> str:
    """sha256 of a file or folder (names and bytes); beyond ``limit`` bytes, of names, sizes,
    modification times and each file's first and last MiB (a retrained model of the same size is
    another input; reading gigabytes for every fit is not worth it)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.exists() else []
    digest = hashlib.sha256(str(len(files)).encode())
    whole = sum(p.stat().st_size for p in files) <= limit
    for p in files:
        digest.update(str(p.relative_to(path) if path.is_dir() else p.name).encode())
        digest.update(p.read_bytes() if whole else _sampled(p))
    return digest.hexdigest()


def _sampled(path: Path, span: int = 1 << 20) -> bytes:
    stat = path.stat()
    with path.open("rb") as f:
        head = f.read(span)
        f.seek(max(0, stat.st_size - span))
        tail = f.read(span)
    return f"{stat.st_size}:{stat.st_mtime_ns}:".encode() + hashlib.sha256(head + tail).digest()


def call_entry(ctx: Any, job: TrainJob) -> dict[str, Any]:
    """Import the job's function (and the plugins its method may come from) and run it."""
    from causal_llm.plugins import load_plugins

    plugins = []
    for plugin in job.plugins:
        if plugin in job.plugin_sources and not Path(plugin).is_file():  # another machine: a copy of the file
            copy = Path(tempfile.mkdtemp(prefix="plugin-")) / Path(plugin).name
            copy.write_text(job.plugin_sources[plugin])
            plugin = str(copy)
        plugins.append(plugin)
    load_plugins(plugins)
    payload = job.payload
    for key, files in job.files.items():
        if not Path(payload["inputs"][key]).exists():  # a worker on another machine: unpack the shipped copy
            from causal_llm.models.loading import materialize

            folder = materialize(files, Path(tempfile.mkdtemp(prefix=f"{key}-")))
            payload = {**payload, "inputs": {**payload["inputs"], key: str(folder)}}
    module, _, name = job.entry.partition(":")
    return getattr(importlib.import_module(module), name)(ctx, payload)


def run_locally(job: TrainJob, out_dir: Path, checkpoint_root: Path, quiet: bool = False) -> dict[str, Any]:
    """The job in this process, single rank, checkpoints under ``checkpoint_root`` (resumes from them)."""
    from causal_llm.training.context import LocalContext

    with tempfile.TemporaryDirectory(prefix="train-out-") as tmp:
        ctx = LocalContext(Path(tmp) / "output", checkpoint_root, job.node, quiet)
        summary = {**call_entry(ctx, job), "world_size": 1, "n_nodes": 1}
        _replace(ctx.output_dir, out_dir)
    shutil.rmtree(checkpoint_root, ignore_errors=True)  # finished: nothing left to resume
    return summary


def quiet_ray_logs() -> None:
    """Every worker of the job: Ray Train's per-report INFO lines and the placement-group cleaner's
    "State API unavailable" warnings (there is no dashboard) off; rank 0's progress lines stay."""
    import logging

    logging.getLogger("ray.train").setLevel(logging.WARNING)
    logging.getLogger("ray.train.v2._internal.execution.controller.placement_group_cleaner").setLevel(logging.ERROR)


def connect_ray() -> None:
    """Join ``RAY_ADDRESS`` (the lifecycle's shared instance, or a cluster); else start one here."""
    import ray

    if ray.is_initialized():
        return
    runtime_env = {"worker_process_setup_hook": "causal_llm.training.ray_edge.quiet_ray_logs"}
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, runtime_env=runtime_env)
    else:
        print("no RAY_ADDRESS: starting a Ray instance for this process (a lifecycle run shares one)", flush=True)
        os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")  # one machine: nothing is drained
        ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", runtime_env=runtime_env)
    quiet_ray_logs()


def fit_on_ray(job: TrainJob, scaling: RayScalingConfig, out_dir: Path, storage: str) -> dict[str, Any]:
    """Run ``job`` as a TorchTrainer job; the finished model lands in ``out_dir``, its summary is returned."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from causal_llm.training.ray_worker import ray_train_loop

    connect_ray()
    name = job.run_name
    resuming = _run_exists(storage, name)
    print(f"{job.node}: Ray Train run {name} ({'resuming from its checkpoint' if resuming else 'new'})", flush=True)
    trainer = TorchTrainer(
        ray_train_loop,
        train_loop_config={"job": asdict(job), "cpus_per_worker": scaling.cpus_per_worker},
        scaling_config=ScalingConfig(
            num_workers=scaling.num_workers,
            use_gpu=_use_gpu(),
            resources_per_worker={"CPU": scaling.cpus_per_worker},
            placement_strategy=scaling.placement_strategy,
        ),
        run_config=RunConfig(
            storage_path=storage,
            name=name,
            failure_config=FailureConfig(max_failures=scaling.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=1),
        ),
    )
    result = trainer.fit()
    if result.error is not None or result.checkpoint is None:
        raise RuntimeError(f"{job.node}: Ray Train run {name} failed: {result.error}")
    with result.checkpoint.as_directory() as ckpt:
        ckpt = Path(ckpt)
        summary = json.loads((ckpt / FINAL_MARKER).read_text())
        _replace(ckpt / "output", out_dir)
    if "://" not in storage:  # finished: nothing left to resume; remote storage follows its own lifecycle rules
        shutil.rmtree(Path(storage) / name, ignore_errors=True)
    return summary


def _run_exists(storage: str, name: str) -> bool:
    """A run of this name left a checkpoint to resume from (local storage; remote storage is not looked at)."""
    return "://" not in storage and (Path(storage) / name / "checkpoint_manager_snapshot.json").is_file()


def _replace(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` through a temporary sibling: a finished model is never half there."""
    target = Path(target)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def ray_storage(default: Path) -> str:
    """Where Ray Train persists checkpoints: ``CAUSAL_LLM_RAY_STORAGE`` or a local folder."""
    return os.environ.get("CAUSAL_LLM_RAY_STORAGE") or str(default.resolve())


def _use_gpu() -> bool:
    import torch

    return torch.cuda.is_available()
