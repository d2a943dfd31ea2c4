"""Helpers the unit tests share: a training context that is 'killed' after a checkpoint."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file

from causal_llm.training.context import LocalContext


class Interrupted(RuntimeError):
    """What a kill -9 does to a training process, as a test can observe it."""


class KilledAfterCheckpoints(LocalContext):
    """A context whose process 'dies' right after it stored ``after`` checkpoints."""

    def __init__(self, *args, after: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.after = after

    def report_checkpoint(self, directory, metrics) -> None:  # noqa: ANN001
        super().report_checkpoint(directory, metrics)
        if len(self.saved_steps) >= self.after:
            raise Interrupted(f"killed after the checkpoint at step {self.saved_steps[-1]}")


def same_weights(a: Path, b: Path) -> bool:
    """Every safetensors file under ``a`` equals its twin under ``b``, tensor by tensor."""
    files = sorted(p.relative_to(a) for p in a.rglob("*.safetensors"))
    assert files, f"no weights under {a}"
    for rel in files:
        x, y = load_file(str(a / rel)), load_file(str(b / rel))
        if x.keys() != y.keys() or any(not x[k].equal(y[k]) for k in x):
            return False
    return True


def story_records(stories, n: int | None = None) -> list[dict]:
    return stories.iloc[:n].to_dict("records") if n else stories.to_dict("records")


def tiny_sft_config(**training):
    from causal_llm.finetune.sft import SftConfig
    from causal_llm.training.config import TrainingConfig

    loop = {"epochs": 2, "batch_size": 8, "lr": 5e-3, "report_every": 1, "checkpoint_every": 0, **training}
    return SftConfig(n_examples=16, max_length=64, training=TrainingConfig(**loop))


def train_plain(model, batches, steps_per_epoch: int, **training):  # noqa: ANN001, ANN201
    """The plain loop with no checkpoints (nothing is written): for tests that need a trained model."""
    from causal_llm.training.config import TrainingConfig
    from causal_llm.training.loop import train_causal_lm

    cfg = TrainingConfig(**{"checkpoint_every": 0, **training})
    ctx = LocalContext(Path("/nonexistent/out"), Path("/nonexistent/checkpoints"), quiet=True)
    return train_causal_lm(model, batches, steps_per_epoch, cfg, 0, ctx)
