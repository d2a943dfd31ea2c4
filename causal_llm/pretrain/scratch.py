"""Pre-training from scratch: a BPE tokenizer and a GPT-2-style model trained on one corpus.

Every rank trains the same tokenizer (deterministic) and its shard of the blocks; rank 0 saves
model and tokenizer. The loop checkpoints every ``training.checkpoint_every`` steps and resumes
from the latest checkpoint after a kill (``causal_llm.training.loop``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from causal_llm.models.tiny import TinyGPT2Config
from causal_llm.pretrain import PRETRAIN_METHODS
from causal_llm.training.config import TrainingConfig


def _pretrain_training() -> TrainingConfig:
    return TrainingConfig(epochs=5, batch_size=16, lr=2e-3, warmup_steps=20, weight_decay=0.1, bf16=True)


@dataclass(frozen=True)
class ScratchConfig:
    model: TinyGPT2Config = field(default_factory=TinyGPT2Config)
    training: TrainingConfig = field(default_factory=_pretrain_training)


@PRETRAIN_METHODS.method("scratch", ScratchConfig)
def pretrain_from_scratch(ctx: Any, inputs: dict[str, Any], cfg: ScratchConfig, seed: int) -> dict[str, Any]:
    """Tokenizer and GPT-2-style model trained from scratch on ``inputs["texts"]``."""
    from causal_llm.models.loading import save_model
    from causal_llm.models.tiny import build_tiny_gpt2, train_tokenizer
    from causal_llm.training.loop import block_batches, pack_blocks, train_causal_lm

    texts = inputs["texts"]
    tokenizer = train_tokenizer(list(texts), cfg.model.vocab_size)
    model = build_tiny_gpt2(cfg.model, tokenizer, seed).to(ctx.device)
    trained = ctx.wrap(model)
    blocks = pack_blocks(texts, tokenizer, cfg.model.block_size)
    steps = len(blocks) // (cfg.training.batch_size * ctx.world)
    if steps == 0:
        raise ValueError(f"{len(blocks)} blocks are fewer than one batch of {cfg.training.batch_size} per worker")
    batches = block_batches(blocks, cfg.training.batch_size, seed, ctx.rank, ctx.world)
    result = train_causal_lm(model, batches, steps, cfg.training, seed, ctx, trained)
    if ctx.rank == 0:
        save_model(model, tokenizer, ctx.output_dir)
    return {**result.summary(), "losses": result.losses}
