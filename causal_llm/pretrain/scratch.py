"""Pre-training from scratch: a BPE tokenizer and a GPT-2-style model per corpus variant.

``pretrain_variant`` is one worker's whole job and runs the same in a test, in a benchmark without
Ray, and inside a Ray Train worker (``causal_llm.distributed``), which passes rank, world size,
a model wrapper (DDP) and a reporter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from causal_llm.config import PretrainConfig
from causal_llm.models import TinyGPT2Spec, build_tiny_gpt2, save_model, train_tokenizer
from causal_llm.train import LoopConfig, TrainResult, block_batches, pack_blocks, train_causal_lm


@dataclass(frozen=True)
class PretrainJob:
    variant: str
    texts: Sequence[str]


def loop_config(cfg: PretrainConfig, seed: int) -> LoopConfig:
    return LoopConfig(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        warmup_steps=cfg.warmup_steps,
        weight_decay=0.1,
        bf16=cfg.bf16,
        report_every=cfg.report_every,
        seed=seed,
    )


def pretrain_variant(
    job: PretrainJob,
    cfg: PretrainConfig,
    seed: int,
    out_dir: str | Path | None = None,
    rank: int = 0,
    world: int = 1,
    wrap: Callable[[torch.nn.Module], torch.nn.Module] = lambda m: m,
    report: Callable[[dict[str, float]], None] | None = None,
    device: torch.device | None = None,
) -> TrainResult:
    """Train tokenizer and model on ``job.texts``; rank 0 saves both to ``out_dir``."""
    tokenizer = train_tokenizer(list(job.texts), cfg.vocab_size)  # deterministic: every rank gets the same
    spec = TinyGPT2Spec(cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size)
    model = build_tiny_gpt2(spec, tokenizer, seed).to(device or torch.device("cpu"))
    trained = wrap(model)
    blocks = pack_blocks(job.texts, tokenizer, cfg.block_size)
    steps = len(blocks) // (cfg.batch_size * world)
    result = train_causal_lm(
        trained,
        block_batches(blocks, cfg.batch_size, seed, rank, world),
        steps,
        loop_config(cfg, seed),
        report,
    )
    if rank == 0 and out_dir is not None:
        save_model(model, tokenizer, out_dir)
    return result
