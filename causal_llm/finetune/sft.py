"""LoRA SFT (peft) on instruction-style examples from the testbed, in the plain training loop.

"Tell me a short story about a <occupation>" -> a testbed story: the examples carry the corpus's
spurious gender-occupation association, which is what counterfactual SFT (``cf_sft``) removes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from causal_llm.config import require
from causal_llm.finetune import FINETUNE_METHODS
from causal_llm.models.lora import LoraSettings
from causal_llm.training.config import TrainingConfig

Example = tuple[str, str]


def _sft_training() -> TrainingConfig:
    return TrainingConfig(epochs=1, batch_size=8, lr=1e-3, warmup_steps=10, bf16=True, report_every=5)


@dataclass(frozen=True)
class SftConfig:
    n_examples: int = 128
    max_length: int = 128  # tokens per example (prompt + response), never beyond the model's window
    lora: LoraSettings = field(default_factory=LoraSettings)
    training: TrainingConfig = field(default_factory=_sft_training)

    def __post_init__(self) -> None:
        require(self.n_examples >= 8, "n_examples must be >= 8")
        require(self.max_length >= 8, "max_length must be >= 8")


def instruction_examples(texts: Sequence[str], occupations: Sequence[str], n: int, seed: int) -> list[Example]:
    """(prompt, response) pairs: "tell me a story about a <occupation>" -> a testbed story."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(texts), size=min(n, len(texts)), replace=False)
    return [(f"Instruction: Tell me a short story about a {occupations[i]}.\nResponse:", " " + texts[i]) for i in idx]


def stories_examples(inputs: dict[str, Any], cfg: SftConfig, seed: int) -> list[Example]:
    stories = inputs["stories"]
    return instruction_examples(
        [s["text"] for s in stories], [s["occupation_name"] for s in stories], cfg.n_examples, seed
    )


def train_lora(ctx: Any, inputs: dict[str, Any], examples: Sequence[Example], cfg: SftConfig, seed: int) -> dict:
    """LoRA on ``inputs["base"]`` over ``examples``; rank 0 saves the bundle in ``ctx.output_dir``."""
    import torch
    from peft import get_peft_model

    from causal_llm.models.loading import load_model, load_tokenizer, save_bundle
    from causal_llm.scoring import max_positions
    from causal_llm.training.loop import sft_batches, train_causal_lm

    base_ref = inputs["base"]
    tokenizer = load_tokenizer(base_ref)
    base = load_model(base_ref, device=ctx.device)
    torch.manual_seed(seed)  # LoRA's A matrices are drawn from the global RNG: seed them, not whatever ran before
    model = get_peft_model(base, cfg.lora.to_peft())
    trained = ctx.wrap(model)
    max_length = min(cfg.max_length, max_positions(model))  # never past the model's context window
    batches = sft_batches(examples, tokenizer, cfg.training.batch_size, max_length, seed, ctx.rank, ctx.world)
    steps = -(-(len(examples) // ctx.world) // cfg.training.batch_size)
    result = train_causal_lm(model, batches, steps, cfg.training, seed, ctx, trained)
    if ctx.rank == 0:
        save_bundle(model, tokenizer, ctx.output_dir, base_ref, inputs["node"], inputs.get("base_label"))
    return {**result.summary(), "losses": result.losses, "n_examples": len(examples)}


@FINETUNE_METHODS.method("sft", SftConfig)
def sft(ctx: Any, inputs: dict[str, Any], cfg: SftConfig, seed: int) -> dict:
    """LoRA SFT on instruction examples built from the testbed's training stories."""
    return train_lora(ctx, inputs, stories_examples(inputs, cfg, seed), cfg, seed)


def counterfactual_examples(examples: Sequence[Example], swap: Callable[[str], str]) -> list[Example]:
    """Two-sided CDA of the responses: every example plus its gender-swapped copy."""
    return [*examples, *((prompt, swap(response)) for prompt, response in examples)]
