"""What a training job sees of where it runs: rank, progress, checkpoints, the output folder.

``LocalContext`` runs a job in this process with checkpoints in a local folder (tests, benchmarks,
``run_locally``); ``causal_llm.training.ray_edge`` gives the same interface inside a Ray Train
worker, where checkpoints go to Ray's storage. A training function never knows which one it has.

Checkpoints are safetensors plus JSON: nothing here is ever unpickled.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors.torch import load_file, save_file

STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"


class TrainContext(Protocol):
    rank: int
    world: int
    device: torch.device
    output_dir: Path  # rank 0 writes the finished model here

    def log(self, message: str) -> None: ...
    def wrap(self, model: torch.nn.Module) -> torch.nn.Module: ...
    def latest_checkpoint(self) -> Path | None: ...
    def report_checkpoint(self, directory: Path | None, metrics: dict[str, float]) -> None: ...
    def restore(self) -> TrainState | None: ...
    def save(self, state: TrainState) -> None: ...
    def hf_callback(self) -> Any: ...  # reports each checkpoint a Hugging Face trainer saves
    def prepare_trainer(self, trainer: Any) -> Any: ...


@dataclass
class TrainState:
    """Everything a resumed run needs to continue exactly where the interrupted one stopped."""

    step: int
    losses: list[float]
    tokens: int
    weights: dict[str, torch.Tensor]  # the trainable parameters only
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: torch.Tensor = field(default_factory=torch.get_rng_state)
    # The GPUs' generators too (dropout on CUDA draws from them); empty on a CPU-only machine.
    cuda_rng: list[torch.Tensor] = field(
        default_factory=lambda: torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    )

    @classmethod
    def capture(
        cls,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        step: int,
        losses: list[float],
        tokens: int,
    ) -> TrainState:
        weights = {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}
        return cls(step, list(losses), tokens, weights, optimizer.state_dict(), scheduler.state_dict())

    def load_into(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
        missing = {n for n, p in model.named_parameters() if p.requires_grad} - set(self.weights)
        if missing:
            raise ValueError(f"checkpoint lacks trainable parameters {sorted(missing)[:3]}: another model's state")
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in self.weights:
                    param.copy_(self.weights[name].to(param.device))
        optimizer.load_state_dict(self.optimizer)
        scheduler.load_state_dict(self.scheduler)
        torch.set_rng_state(self.rng)
        if self.cuda_rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self.cuda_rng)

    def write(self, directory: Path) -> Path:
        tensors = {f"weight.{n}": t.contiguous() for n, t in self.weights.items()}
        opt_state: dict[str, dict[str, Any]] = {}
        for index, entries in self.optimizer["state"].items():
            opt_state[str(index)] = {}
            for key, value in entries.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
                    opt_state[str(index)][key] = {"tensor": f"optimizer.{index}.{key}"}
                else:
                    opt_state[str(index)][key] = value
        tensors["rng"] = self.rng
        tensors |= {f"cuda_rng.{i}": state for i, state in enumerate(self.cuda_rng)}
        directory.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(directory / STATE_TENSORS))
        meta = {
            "step": self.step,
            "losses": self.losses,
            "tokens": self.tokens,
            "weights": sorted(self.weights),
            "optimizer": {"state": opt_state, "param_groups": self.optimizer["param_groups"]},
            "scheduler": {k: v for k, v in self.scheduler.items() if k != "lr_lambdas"},
        }
        (directory / STATE_JSON).write_text(json.dumps(meta))
        return directory

    @classmethod
    def read(cls, directory: Path) -> TrainState:
        tensors = load_file(str(directory / STATE_TENSORS))
        meta = json.loads((directory / STATE_JSON).read_text())
        state = {
            int(index): {k: tensors[v["tensor"]] if isinstance(v, dict) and "tensor" in v else v for k, v in e.items()}
            for index, e in meta["optimizer"]["state"].items()
        }
        optimizer = {"state": state, "param_groups": meta["optimizer"]["param_groups"]}
        scheduler = {**meta["scheduler"], "lr_lambdas": [None] * len(meta["optimizer"]["param_groups"])}
        weights = {n: tensors[f"weight.{n}"] for n in meta["weights"]}
        cuda_rng = [tensors[k] for k in sorted((k for k in tensors if k.startswith("cuda_rng.")), key=_index)]
        step, losses, tokens = meta["step"], meta["losses"], meta["tokens"]
        return cls(step, losses, tokens, weights, optimizer, scheduler, tensors["rng"], cuda_rng)


def _index(key: str) -> int:
    return int(key.rpartition(".")[2])


def has_state(directory: Path | None) -> bool:
    return directory is not None and (directory / STATE_JSON).is_file()


class CheckpointingMixin:
    """``restore``/``save`` of a ``TrainState`` on top of ``latest_checkpoint``/``report_checkpoint``."""

    rank: int

    def latest_checkpoint(self) -> Path | None:  # pragma: no cover - provided by the context
        raise NotImplementedError

    def report_checkpoint(self, directory: Path | None, metrics: dict[str, float]) -> None:  # pragma: no cover
        raise NotImplementedError

    def restore(self) -> TrainState | None:
        latest = self.latest_checkpoint()
        return TrainState.read(latest) if has_state(latest) else None

    def save(self, state: TrainState) -> None:
        with tempfile.TemporaryDirectory(prefix="ckpt-") as tmp:
            directory = state.write(Path(tmp)) if self.rank == 0 else None
            self.report_checkpoint(directory, {"step": state.step, "loss": state.losses[-1]})


def report_hf_checkpoints(ctx: Any) -> Any:
    """A Hugging Face trainer callback: each checkpoint the trainer saves goes to ``ctx``'s store as
    ``<checkpoint>/checkpoint/`` (the layout of Ray's ``RayTrainReportCallback``)."""
    from transformers import TrainerCallback
    from transformers.trainer_utils import get_last_checkpoint

    class ReportCheckpoints(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            with tempfile.TemporaryDirectory(prefix="hf-ckpt-") as tmp:
                directory = None
                if ctx.rank == 0:
                    directory = Path(tmp)
                    shutil.copytree(get_last_checkpoint(str(args.output_dir)), directory / "checkpoint")
                ctx.report_checkpoint(directory, {"step": state.global_step})

    return ReportCheckpoints()


class LocalContext(CheckpointingMixin):
    """One process, checkpoints under ``checkpoint_root``: what unit tests and ``run_locally`` use."""

    def __init__(self, output_dir: Path, checkpoint_root: Path, name: str = "train", quiet: bool = False) -> None:
        self.rank, self.world = 0, 1
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.output_dir = Path(output_dir)
        self.checkpoint_root = Path(checkpoint_root)
        self.name, self.quiet = name, quiet
        self.saved_steps: list[int] = []

    def log(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.strftime('%H:%M:%S')}] {self.name}: {message}", file=sys.stderr, flush=True)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return model

    def hf_callback(self) -> Any:
        return report_hf_checkpoints(self)

    def prepare_trainer(self, trainer: Any) -> Any:
        return trainer

    def latest_checkpoint(self) -> Path | None:
        # A ``.tmp`` copy a kill left behind is not a checkpoint.
        found = sorted(
            (p for p in self.checkpoint_root.glob("checkpoint_*") if p.name.split("_")[1].isdigit()),
            key=lambda p: int(p.name.split("_")[1]),
        )
        return found[-1] if found else None

    def report_checkpoint(self, directory: Path | None, metrics: dict[str, float]) -> None:
        if directory is None:
            return
        index = int(metrics.get("step", len(self.saved_steps)))
        target = self.checkpoint_root / f"checkpoint_{index:06d}"
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(directory, tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)  # a checkpoint is there whole or not at all
        for older in self.checkpoint_root.glob("checkpoint_*"):
            if older != target and not older.name.endswith(".tmp"):
                shutil.rmtree(older)
        self.saved_steps.append(index)
