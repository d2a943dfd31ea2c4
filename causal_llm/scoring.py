"""Batched log-likelihood of continuations, as lm-evaluation-harness defines it.

LL(continuation | context) = sum of the continuation tokens' log-probabilities. The pair is split
as lm-eval splits it (trailing spaces move to the continuation; the whole string is encoded and the
context's tokens cut off), and an empty context is conditioned on BOS (EOS where there is no BOS).
Requests are sorted by length so a batch pads little; right padding with an attention mask keeps
every row's values independent of its batch-mates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class Scored:
    loglikelihood: float
    n_tokens: int
    is_greedy: bool


def _encode_pair(tokenizer: PreTrainedTokenizerBase, context: str, continuation: str) -> tuple[list[int], list[int]]:
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:  # trailing spaces belong to the continuation, as in lm-eval
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    if not context:
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        return [start], tokenizer(continuation, add_special_tokens=False)["input_ids"]
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    return whole[: len(ctx)], whole[len(ctx) :]


def max_positions(model: PreTrainedModel) -> int:
    cfg = model.config
    return int(getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", 2048))


@torch.inference_mode()
def score(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    requests: Sequence[tuple[str, str]],
    batch_size: int = 16,
    progress: bool = False,
) -> list[Scored]:
    """Score (context, continuation) pairs; results come back in the order of ``requests``."""
    device = next(model.parameters()).device
    limit = max_positions(model) + 1
    encoded = []
    for context, continuation in requests:
        ctx, cont = _encode_pair(tokenizer, context, continuation)
        if not cont:
            raise ValueError(f"empty continuation for context {context[:60]!r}")
        if len(cont) >= limit:
            raise ValueError(f"a continuation of {len(cont)} tokens does not fit the model's {limit - 1} positions")
        full = (ctx + cont)[-limit:]  # keep the continuation; cut the context from the left
        encoded.append((full, len(cont)))
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    out: list[Scored | None] = [None] * len(encoded)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches = range(0, len(order), batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="scoring", unit="batch")
    for start in batches:
        idx = order[start : start + batch_size]
        width = max(len(encoded[i][0]) for i in idx) - 1
        inputs = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            ids = encoded[i][0][:-1]
            inputs[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
        logits = model(input_ids=inputs.to(device), attention_mask=mask.to(device)).logits
        for row, i in enumerate(idx):
            full, n_cont = encoded[i]
            targets = torch.tensor(full[-n_cont:])
            start = len(full) - 1 - n_cont
            # log-softmax over the continuation's positions only: the rest of the batch is never scored
            lp = torch.log_softmax(logits[row, start : start + n_cont].float(), dim=-1).cpu()
            token_lp = lp.gather(1, targets[:, None]).squeeze(1)
            greedy = bool((lp.argmax(-1) == targets).all())
            out[i] = Scored(float(token_lp.double().sum()), n_cont, greedy)
    return out  # type: ignore[return-value]


def loglikelihoods(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    requests: Sequence[tuple[str, str]],
    batch_size: int = 16,
) -> np.ndarray:
    return np.array([s.loglikelihood for s in score(model, tokenizer, requests, batch_size)])
