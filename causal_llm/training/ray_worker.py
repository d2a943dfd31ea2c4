"""What every Ray Train worker runs (imported only inside workers and by ``fit_on_ray``)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from causal_llm.training.context import CheckpointingMixin
from causal_llm.training.ray_edge import FINAL_MARKER, TrainJob, call_entry


class RayContext(CheckpointingMixin):
    """The ``TrainContext`` of a Ray Train worker (see ``causal_llm.training.context``)."""

    def __init__(self, node: str) -> None:
        import ray.train
        import ray.train.torch

        ctx = ray.train.get_context()
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.device = ray.train.torch.get_device()
        self.node = node
        self.output_dir = Path(tempfile.mkdtemp(prefix="train-out-")) / "output"
        self._restored: Path | None = None

    def log(self, message: str) -> None:
        if self.rank == 0:  # forwarded to the driver's terminal (log_to_driver)
            print(f"[{time.strftime('%H:%M:%S')}] {self.node}: {message}", flush=True)

    def wrap(self, model: Any) -> Any:
        import ray.train.torch

        return ray.train.torch.prepare_model(model) if self.world > 1 else model.to(self.device)

    def hf_callback(self) -> Any:
        """Ray's Transformers integration: every checkpoint the trainer saves is reported to Ray."""
        from ray.train.huggingface.transformers import RayTrainReportCallback

        return RayTrainReportCallback()

    def prepare_trainer(self, trainer: Any) -> Any:
        from ray.train.huggingface.transformers import prepare_trainer

        return prepare_trainer(trainer)

    def latest_checkpoint(self) -> Path | None:
        import ray.train

        if self._restored is None:
            checkpoint = ray.train.get_checkpoint()
            if checkpoint is None:
                return None
            self._restored = Path(checkpoint.to_directory(tempfile.mkdtemp(prefix="restored-")))
        return self._restored

    def report_checkpoint(self, directory: Path | None, metrics: dict[str, float]) -> None:
        import ray.train

        checkpoint = ray.train.Checkpoint.from_directory(str(directory)) if directory is not None else None
        ray.train.report(dict(metrics), checkpoint=checkpoint)


def ray_train_loop(config: dict[str, Any]) -> None:
    """What every Ray Train worker runs: the job, then rank 0 reports the finished model."""
    from causal_llm.timing import process_started_at, record

    entered = time.time()
    record("ray-worker", config["job"]["node"], process_started_at(), entered)  # the worker's own start-up
    torch.set_num_threads(config["cpus_per_worker"])  # Ray starts workers with one torch thread
    _quiet_train_logs()
    job = TrainJob(**{**config["job"], "plugins": tuple(config["job"]["plugins"]), "inputs": ()})
    ctx = RayContext(job.node)
    nodes = _gather_node_ids(ctx.world)
    latest = ctx.latest_checkpoint()
    if latest is not None and (latest / FINAL_MARKER).is_file():  # killed after finishing: report it again
        ctx.log("the run had already finished; reporting its final checkpoint")
        ctx.report_checkpoint(latest if ctx.rank == 0 else None, {"final": 1})
        return
    summary = call_entry(ctx, job)
    summary |= {"world_size": ctx.world, "n_nodes": len(set(nodes)), "node_ids": nodes}
    with tempfile.TemporaryDirectory(prefix="final-") as tmp:
        final = Path(tmp) if ctx.rank == 0 else None
        if final is not None:
            shutil.copytree(ctx.output_dir, final / "output")
            (final / FINAL_MARKER).write_text(json.dumps(summary))
        ctx.report_checkpoint(final, {"final": 1})


def _quiet_train_logs() -> None:
    """Ray Train logs every report and checkpoint at INFO on the worker's console; rank 0's own
    progress lines say enough (the full logs stay in Ray's session folder)."""
    import logging

    import ray.train.v2._internal.execution.context as train_context

    for name in ("ray.train", train_context.__file__):  # that module's logger is named by its file
        logging.getLogger(name).setLevel(logging.WARNING)


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
