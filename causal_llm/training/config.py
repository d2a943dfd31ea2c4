"""The training settings every trained method shares; a light module (no torch), read at params time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from causal_llm.config import require


@dataclass(frozen=True)
class TrainingConfig:
    """The optimiser and loop settings every trained method shares (``<stage>.defaults.training``)."""

    epochs: int = 1
    batch_size: int = 8
    lr: float = 1e-3
    warmup_steps: int = 0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    # Linear warm-up, then decay to min_lr_ratio * lr (cosine or linear).
    schedule: Literal["cosine", "linear"] = "cosine"
    min_lr_ratio: float = 0.1
    # bf16 autocast trains the tiny GPT-2 1.66x faster than fp32 on AMX CPUs (docs/architecture.md#measured-costs).
    bf16: bool = False
    report_every: int = 50  # steps between progress lines
    checkpoint_every: int = 100  # steps between resumable checkpoints (0: only the final state)

    def __post_init__(self) -> None:
        require(self.epochs >= 1 and self.batch_size >= 1, "training.epochs and training.batch_size must be >= 1")
        require(self.lr > 0, "training.lr must be > 0")
        require(self.warmup_steps >= 0 and self.weight_decay >= 0, "training.warmup_steps/weight_decay must be >= 0")
        require(0 <= self.min_lr_ratio <= 1, "training.min_lr_ratio must be in [0, 1]")
        require(self.report_every >= 1, "training.report_every must be >= 1")
        require(self.checkpoint_every >= 0, "training.checkpoint_every must be >= 0 (0 turns checkpoints off)")


@dataclass(frozen=True)
class RayScalingConfig:
    """How one training job is spread over Ray (``<stage>.ray`` in params.yaml)."""

    num_workers: int = 1
    cpus_per_worker: int = 2
    # SPREAD puts workers on different nodes when a cluster has several; on one node it is PACK.
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "SPREAD"
    max_failures: int = 2  # worker failures Ray Train recovers from, each resuming from the latest checkpoint

    def __post_init__(self) -> None:
        require(self.num_workers >= 1 and self.cpus_per_worker >= 1, "ray.num_workers/cpus_per_worker must be >= 1")
        require(self.max_failures >= -1, "ray.max_failures must be >= 0 (or -1: retry without limit)")


@dataclass(frozen=True)
class TrainStageSettings:
    """The shared settings of a training stage: its Ray scaling."""

    ray: RayScalingConfig = field(default_factory=RayScalingConfig)
