"""The plain PyTorch training loop shared by pre-training and SFT (nanoGPT-style, no Trainer).

Runs single-process in tests; Ray wraps it at the edge (``causal_llm.distributed``) and passes a
``report`` callback, the loop's only contact with the outside.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class LoopConfig:
    epochs: int
    batch_size: int
    lr: float
    warmup_steps: int = 0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    bf16: bool = False
    report_every: int = 50
    seed: int = 0


@dataclass
class TrainResult:
    losses: list[float]
    steps: int
    tokens: int
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / max(self.seconds, 1e-9)

    def summary(self) -> dict[str, float]:
        k = max(1, len(self.losses) // 10)  # first and last tenth: one noisy batch does not decide
        return {
            "loss_first": float(np.mean(self.losses[:k])),
            "loss_last": float(np.mean(self.losses[-k:])),
            "steps": float(self.steps),
            "tokens": float(self.tokens),
            "tokens_per_s": self.tokens_per_second,
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
) -> Callable[[int], Iterator[Batch]]:
    """Prompt/response batches; the loss covers the response and its EOS, never the prompt."""
    encoded = []
    for prompt, response in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        r = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = (p + r)[:max_length]
        labels = ([-100] * len(p) + r)[:max_length]
        encoded.append((ids, labels))

    def epoch_batches(epoch: int) -> Iterator[Batch]:
        order = np.random.default_rng(seed + epoch).permutation(len(encoded))
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


def train_causal_lm(
    model: torch.nn.Module,
    batches: Callable[[int], Iterator[Batch]],
    steps_per_epoch: int,
    cfg: LoopConfig,
    report: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """AdamW with linear warm-up and cosine decay; returns the loss of every step."""
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = max(1, steps_per_epoch * cfg.epochs)

    def lr_lambda(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    torch.manual_seed(cfg.seed)
    model.train()
    losses: list[float] = []
    tokens = 0
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        for batch in batches(epoch):
            batch = {k: v.to(device) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            tokens += int(batch["attention_mask"].sum())
            if report is not None and len(losses) % cfg.report_every == 0:
                report({"step": len(losses), "loss": float(np.mean(losses[-cfg.report_every :])), "epoch": epoch})
    model.eval()
    return TrainResult(losses, len(losses), tokens, time.perf_counter() - start)
