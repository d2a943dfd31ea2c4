"""Ray Train at the edge: the pre-training jobs of one stage run in one ``TorchTrainer.fit``.

One fit for all variants because each fit costs 15-20 s of start-up here (DESIGN.md). Workers get
``cpus_per_worker`` CPUs and as many torch threads (Ray starts them with one). Rank 0 saves every
variant into one checkpoint directory that Ray persists to ``storage_path``; the driver copies it
out. ``RAY_ADDRESS`` selects an existing cluster; otherwise a local instance is started.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from causal_llm.config import PretrainConfig
from causal_llm.pretrain import PretrainJob, pretrain_variant


def _train_worker(config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch
    import torch

    torch.set_num_threads(config["cpus_per_worker"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    nodes = _gather_node_ids(world)
    cfg = PretrainConfig(**config["cfg"])
    device = ray.train.torch.get_device()
    out = Path(tempfile.mkdtemp(prefix="pretrain-"))
    summaries = {}
    for job in config["jobs"]:
        variant = job["variant"]

        def report(metrics: dict[str, float], variant: str = variant) -> None:
            if rank == 0:  # forwarded to the driver's terminal (log_to_driver) as progress
                print(f"pretrain {variant}: step {metrics['step']} loss {metrics['loss']:.3f}", flush=True)
            ray.train.report({**metrics, "variant": variant})

        wrap = ray.train.torch.prepare_model if world > 1 else (lambda m: m)
        result = pretrain_variant(
            PretrainJob(variant, job["texts"]),
            cfg,
            config["seed"],
            out / variant,
            rank,
            world,
            wrap,
            report,
            device,
        )
        summaries[variant] = {
            **result.summary(),
            "losses": result.losses,
            "world_size": world,
            "n_nodes": len(set(nodes)),
            "node_ids": nodes,
        }
    checkpoint = None
    if rank == 0:
        (out / "summaries.json").write_text(json.dumps(summaries))
        checkpoint = ray.train.Checkpoint.from_directory(out)
    ray.train.report({"done": 1}, checkpoint=checkpoint)


def pretrain_on_ray(
    jobs: list[PretrainJob], cfg: PretrainConfig, seed: int, out_dir: Path, storage_path: Path
) -> dict[str, dict]:
    """Train every job on Ray; writes ``out_dir/<variant>/`` and returns per-variant summaries."""
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    if not ray.is_initialized():
        ray.init(include_dashboard=False)
    storage, run_name = ray_storage(storage_path), f"pretrain-{uuid.uuid4().hex[:12]}"
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={
            "cfg": asdict(cfg),
            "seed": seed,
            "cpus_per_worker": cfg.cpus_per_worker,
            "jobs": [{"variant": j.variant, "texts": list(j.texts)} for j in jobs],
        },
        scaling_config=ScalingConfig(
            num_workers=cfg.num_workers,
            use_gpu=_use_gpu(),
            resources_per_worker={"CPU": cfg.cpus_per_worker},
            placement_strategy=cfg.placement_strategy,
        ),
        # A name of its own: Ray Train resumes from a snapshot it finds under the same name in shared storage.
        run_config=RunConfig(storage_path=storage, name=run_name),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"Ray Train finished without a checkpoint: {result.error}")
    with result.checkpoint.as_directory() as ckpt:
        ckpt = Path(ckpt)
        for job in jobs:
            target = out_dir / job.variant
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(ckpt / job.variant, target)
        summaries = json.loads((ckpt / "summaries.json").read_text())
    if "://" not in storage:  # the copy above is what the stage keeps; remote storage is left to its lifecycle rules
        shutil.rmtree(Path(storage) / run_name, ignore_errors=True)
    return summaries


def ray_storage(default: Path) -> str:
    """Where Ray Train persists checkpoints: ``CAUSAL_LLM_RAY_STORAGE`` or a local folder."""
    return os.environ.get("CAUSAL_LLM_RAY_STORAGE") or str(default.resolve())


def _gather_node_ids(world: int) -> list[str]:
    """The Ray node of every rank (rank order), so a run records how many machines trained it."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    if world == 1:
        return [node]
    import torch.distributed as dist

    nodes: list[str] = [""] * world
    dist.all_gather_object(nodes, node)
    return nodes


def _use_gpu() -> bool:
    import torch

    return torch.cuda.is_available()
