"""The plain PyTorch training loop shared by pre-training and SFT (nanoGPT-style, no Trainer).

Runs single-process in tests. Its only contact with the outside is a ``TrainContext``
(``causal_llm.training.context``): rank, progress lines, and the checkpoint store, which is a local
folder in tests and Ray Train's storage under Ray. Every ``checkpoint_every`` steps the whole
training state is saved (trainable weights, optimizer, schedule, RNG, losses so far); a run that
was killed resumes from the latest checkpoint and ends with the same numbers as one that was not,
because the data order is a function of (seed, epoch) and the RNG state is restored with the rest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from causal_llm.training.config import TrainingConfig
from causal_llm.training.context import TrainContext, TrainState

Batch = dict[str, torch.Tensor]


@dataclass
class TrainResult:
    losses: list[float]
    steps: int
    tokens: int
    seconds: float  # time in this process's loop (a resumed run counts only its own part)
    resumed_from: int = 0  # the step a resumed run started at (0: from scratch)
    started_at: float = 0.0  # wall clock (time.time()) when this process's loop started
    bf16: bool = False  # whether the loop ran under bf16 autocast (asked for, and fast on this hardware)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_this_run / max(self.seconds, 1e-9)

    @property
    def tokens_this_run(self) -> int:
        return int(self.tokens * (self.steps - self.resumed_from) / max(self.steps, 1))

    def summary(self) -> dict[str, float]:
        k = max(1, len(self.losses) // 10)  # first and last tenth: one noisy batch does not decide
        return {
            "loss_first": float(np.mean(self.losses[:k])),
            "loss_last": float(np.mean(self.losses[-k:])),
            "steps": float(self.steps),
            "tokens": float(self.tokens),
            "tokens_per_s": self.tokens_per_second,
            "resumed_from_step": float(self.resumed_from),
            "loop_started_at": self.started_at,
            "loop_seconds": self.seconds,
            "bf16": float(self.bf16),
        }


def pack_blocks(texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, block_size: int) -> torch.Tensor:
    """Concatenate documents separated by EOS and cut them into (n_blocks, block_size) token ids."""
    ids: list[int] = []
    for enc in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        ids.extend(enc)
        ids.append(tokenizer.eos_token_id)
    n = len(ids) // block_size
    if n == 0:
        raise ValueError(f"the corpus has {len(ids)} tokens, fewer than one block of {block_size}")
    return torch.tensor(ids[: n * block_size]).view(n, block_size)


def block_batches(
    blocks: torch.Tensor, batch_size: int, seed: int, rank: int = 0, world: int = 1
) -> Callable[[int], Iterator[Batch]]:
    """Per-epoch shuffled batches of this rank's shard of the blocks (same order for every rank count)."""

    def epoch_batches(epoch: int) -> Iterator[Batch]:
        order = torch.randperm(len(blocks), generator=torch.Generator().manual_seed(seed + epoch))
        # Equal batch counts on every rank: under DDP a rank with one batch more would wait forever.
        usable = len(order) // (world * batch_size) * world * batch_size
        shard = order[:usable][rank::world]
        for i in range(0, len(shard) - batch_size + 1, batch_size):
            x = blocks[shard[i : i + batch_size]]
            yield {"input_ids": x, "attention_mask": torch.ones_like(x), "labels": x.clone()}

    return epoch_batches


def sft_batches(
    pairs: Sequence[tuple[str, str]],
    tokenizer: PreTrainedTokenizerBase,
    batch_size: int,
    max_length: int,
    seed: int,
    rank: int = 0,
    world: int = 1,
) -> Callable[[int], Iterator[Batch]]:
    """Prompt/response batches; the loss covers the response and its EOS, never the prompt.
    Under DDP each rank takes every ``world``-th example of the epoch's order (equal counts)."""
    encoded = []
    for prompt, response in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        r = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = (p + r)[:max_length]
        labels = ([-100] * len(p) + r)[:max_length]
        encoded.append((ids, labels))

    def epoch_batches(epoch: int) -> Iterator[Batch]:
        order = np.random.default_rng(seed + epoch).permutation(len(encoded))
        order = order[: len(order) // world * world][rank::world]
        for i in range(0, len(order), batch_size):
            chunk = [encoded[j] for j in order[i : i + batch_size]]
            width = max(len(ids) for ids, _ in chunk)
            input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id)
            labels = torch.full((len(chunk), width), -100)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (ids, lab) in enumerate(chunk):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                labels[row, : len(lab)] = torch.tensor(lab)
                mask[row, : len(ids)] = 1
            yield {"input_ids": input_ids, "attention_mask": mask, "labels": labels}

    return epoch_batches


def lr_multiplier(cfg: TrainingConfig, total: int) -> Callable[[int], float]:
    """Linear warm-up to ``lr``, then cosine or linear decay to ``min_lr_ratio * lr`` at ``total`` steps."""

    def multiplier(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
        shape = 0.5 * (1 + math.cos(math.pi * progress)) if cfg.schedule == "cosine" else 1 - progress
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * shape

    return multiplier


BF16_FALLBACK = (
    "training.bf16 asks for bf16 autocast, but this CPU has no bf16 instructions (amx_bf16, avx512_bf16), "
    "where autocast is many times slower than fp32: training in fp32"
)


def bf16_is_fast(device_type: str) -> bool:
    """Whether bf16 autocast speeds training up here: a GPU that supports it, or a CPU with AMX or
    AVX-512 bf16 instructions (without them CPU autocast emulates bf16, tens of times slower)."""
    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def train_causal_lm(
    model: torch.nn.Module,
    batches: Callable[[int], Iterator[Batch]],
    steps_per_epoch: int,
    cfg: TrainingConfig,
    seed: int,
    ctx: TrainContext,
    trained: torch.nn.Module | None = None,
) -> TrainResult:
    """AdamW over ``model``'s trainable parameters; returns the loss of every step.

    ``trained`` is what the forward pass runs (a DDP wrapper of ``model`` under several workers);
    checkpoints hold ``model``'s trainable tensors, so they load the same whatever the wrapper.
    """
    trained = trained if trained is not None else model
    device = next(model.parameters()).device
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = max(1, steps_per_epoch * cfg.epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier(cfg, total))
    torch.manual_seed(seed)
    losses: list[float] = []
    tokens = 0
    state = ctx.restore()
    if state is not None:  # resume: the same weights, optimiser moments, schedule, RNG and history
        state.load_into(model, optimizer, scheduler)
        losses, tokens = list(state.losses), state.tokens
        ctx.log(f"resumed from the checkpoint at step {state.step} of {total}")
    start_step = len(losses)
    bf16 = cfg.bf16 and bf16_is_fast(device.type)
    if cfg.bf16 and not bf16:
        ctx.log(BF16_FALLBACK)
    trained.train()
    started, started_at = time.perf_counter(), time.time()
    for epoch in range(start_step // max(1, steps_per_epoch), cfg.epochs):
        for i, batch in enumerate(batches(epoch)):
            if epoch * steps_per_epoch + i < start_step:
                continue  # already trained before the interruption
            batch = {k: v.to(device) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = trained(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            tokens += int(batch["attention_mask"].sum())
            step = len(losses)
            if step % cfg.report_every == 0:
                ctx.log(f"step {step}/{total} loss {np.mean(losses[-cfg.report_every :]):.3f}")
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < total:
                ctx.save(TrainState.capture(model, optimizer, scheduler, step, losses, tokens))
    model.eval()
    trained.eval()
    return TrainResult(losses, len(losses), tokens, time.perf_counter() - started, start_step, started_at, bf16)
