"""The scorer engine: batched log-likelihood of continuations, as lm-evaluation-harness defines it.

LL(continuation | context) = sum of the continuation tokens' log-probabilities. A pair is split as
lm-eval splits it (trailing spaces move to the continuation; the whole string is encoded and the
context's tokens cut off), and an empty context is conditioned on BOS (EOS where there is no BOS).

What makes it fast without changing a value:
- The requests of a multiple-choice item share a token prefix (the context, and for sentence pairs
  such as CrowS-Pairs the words before the first difference). The prefix is encoded once; each
  choice's remaining tokens run on a copy of its key/value cache.
- Vocabulary logits are computed only at the positions that are scored (``logits_to_keep`` with a
  boolean mask); lm-eval projects and log-softmaxes every position of every row.
- Batches are sorted by length; rows are right-padded, so the prefix pass needs no mask (padding
  follows every real token), and the choice pass masks the prefix padding and sets positions.
Per-item values match lm-eval's and do not depend on the batch size beyond float rounding
(``tests/unit/test_scoring.py``, ``tests/unit/test_lm_eval_export.py``).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class Scored:
    loglikelihood: float
    n_tokens: int
    is_greedy: bool


@dataclass
class _Request:
    slot: int  # where its result goes
    row: int  # its unique input row (context + continuation minus the last token)
    first: int  # position in the row whose logits predict the first continuation token
    targets: list[int]  # the continuation tokens


@dataclass
class _Group:
    """Input rows that share their first ``prefix`` tokens: the prefix is encoded once."""

    rows: list[int]
    prefix: int


def encode_pair(tokenizer: PreTrainedTokenizerBase, context: str, continuation: str) -> tuple[list[int], list[int]]:
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


def _common_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


# A second (masked, cached) pass costs about as much as re-encoding a short prefix: a row joins a
# group only when the shared prefix is at least this share of its tokens.
MIN_SAVED_FRACTION = 0.3


def _encode_requests(
    tokenizer: PreTrainedTokenizerBase, requests: Sequence[tuple[str, str]], window: int
) -> tuple[list[tuple[int, ...]], list[_Request]]:
    """Unique input rows and, per request, its row and targets. Requests whose inputs are equal (the
    one-token choices " yes" / " no" after one context) share a row."""
    row_index: dict[tuple[int, ...], int] = {}
    out = []
    for slot, (context, continuation) in enumerate(requests):
        ctx, cont = encode_pair(tokenizer, context, continuation)
        if not cont:
            raise ValueError(f"empty continuation for context {context[:60]!r}")
        if len(cont) >= window + 1:
            raise ValueError(f"a continuation of {len(cont)} tokens does not fit the model's {window} positions")
        full = (ctx + cont)[-(window + 1) :]  # keep the continuation; cut the context from the left
        row = row_index.setdefault(tuple(full[:-1]), len(row_index))
        out.append(_Request(slot, row, len(full) - len(cont) - 1, list(cont)))
    return list(row_index), out


def _group_rows(rows: list[tuple[int, ...]]) -> list[_Group]:
    """Sort rows by their tokens, so rows with a common prefix are neighbours, and grow each group
    while the tokens it saves outweigh what shortening its shared prefix costs."""
    order = sorted(range(len(rows)), key=rows.__getitem__)
    groups: list[_Group] = []
    members, prefix = [order[0]], len(rows[order[0]])
    for prev, i in zip(order, order[1:], strict=False):
        common = min(prefix, _common_prefix(rows[prev], rows[i]))
        saved = common - (prefix - common) * (len(members) - 1)
        if common and saved > 0 and common >= MIN_SAVED_FRACTION * len(rows[i]):
            members.append(i)
            prefix = common
        else:
            groups.append(_Group(members, prefix))
            members, prefix = [i], len(rows[i])
    groups.append(_Group(members, prefix))
    return groups


def _accepts_logits_to_keep(model: PreTrainedModel) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def _select_cache(cache: Any, index: torch.Tensor) -> Any:
    """A copy of ``cache`` holding rows ``index`` (repeats allowed); the original is left intact."""
    selected = copy.copy(cache)
    selected.layers = [copy.copy(layer) for layer in cache.layers]
    selected.reorder_cache(index)
    return selected


class _Targets:
    """Scored positions of one forward pass: (row, position) -> (target token, result slot)."""

    def __init__(self, rows: int, width: int) -> None:
        self.keep = torch.zeros((rows, width), dtype=torch.bool)
        self.entries: list[tuple[int, int, int, int]] = []  # row, position, target token, slot

    def add(self, row: int, pos: int, token: int, slot: int) -> None:
        self.keep[row, pos] = True
        self.entries.append((row, pos, token, slot))

    def gather(self, logits: torch.Tensor, kept: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(slot, log-probability, is-argmax) per entry. ``kept``: ``logits`` holds only the kept
        positions, flattened in row-major order; else it is the full (rows, width, vocab) tensor."""
        if kept:
            flat = {rp: k for k, rp in enumerate(map(tuple, self.keep.nonzero().tolist()))}
            index = torch.tensor([flat[(r, p)] for r, p, _, _ in self.entries], device=logits.device)
            selected = logits.reshape(-1, logits.shape[-1]).index_select(0, index)
        else:
            rows = torch.tensor([e[0] for e in self.entries], device=logits.device)
            pos = torch.tensor([e[1] for e in self.entries], device=logits.device)
            selected = logits[rows, pos]
        targets = torch.tensor([e[2] for e in self.entries], device=logits.device)
        logprobs = torch.log_softmax(selected.float(), dim=-1)
        token_lp = logprobs.gather(1, targets[:, None]).squeeze(1)
        greedy = logprobs.argmax(-1) == targets
        slots = np.array([e[3] for e in self.entries])
        return slots, token_lp.double().cpu().numpy(), greedy.cpu().numpy()


@torch.inference_mode()
def _score_batch(
    model: PreTrainedModel,
    batch: list[_Group],
    rows: list[tuple[int, ...]],
    by_row: dict[int, list[_Request]],
    batch_size: int,
    pad: int,
    slice_logits: bool,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    device = next(model.parameters()).device
    # Pass 1: each group's shared prefix, once, scoring every target that falls inside it.
    width = max(g.prefix for g in batch)
    inputs = torch.full((len(batch), width), pad, dtype=torch.long)
    first = _Targets(len(batch), width)
    suffixes = []  # (group index in the batch, row)
    for i, group in enumerate(batch):
        inputs[i, : group.prefix] = torch.tensor(rows[group.rows[0]][: group.prefix])
        for r in group.rows:
            for req in by_row[r]:
                for k, token in enumerate(req.targets):
                    if req.first + k < group.prefix:
                        first.add(i, req.first + k, token, req.slot)
            if len(rows[r]) > group.prefix:
                suffixes.append((i, r))
    kwargs = {"logits_to_keep": first.keep.to(device)} if slice_logits else {}
    out = model(input_ids=inputs.to(device), use_cache=bool(suffixes), **kwargs)
    parts = [first.gather(out.logits, kept=slice_logits)] if first.entries else []
    # Pass 2: every row's remaining tokens on a copy of its group's cache, attending to the prefix
    # (its padding masked) and placed at the positions that follow the prefix.
    suffixes.sort(key=lambda s: -(len(rows[s[1]]) - batch[s[0]].prefix))
    for start in range(0, len(suffixes), batch_size):
        chunk = suffixes[start : start + batch_size]
        s_width = max(len(rows[r]) - batch[i].prefix for i, r in chunk)
        ids = torch.full((len(chunk), s_width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width + s_width), dtype=torch.long)
        positions = torch.zeros((len(chunk), s_width), dtype=torch.long)
        second = _Targets(len(chunk), s_width)
        for j, (i, r) in enumerate(chunk):
            prefix, tail = batch[i].prefix, rows[r][batch[i].prefix :]
            ids[j, : len(tail)] = torch.tensor(tail)
            mask[j, :prefix] = 1
            mask[j, width : width + len(tail)] = 1
            # padding slots get a valid (unused) position: a long prefix plus the widest tail may pass the window
            positions[j] = (prefix + torch.arange(s_width)).clamp(max=max_positions(model) - 1)
            for req in by_row[r]:
                for k, token in enumerate(req.targets):
                    if req.first + k >= prefix:
                        second.add(j, req.first + k - prefix, token, req.slot)
        cache = _select_cache(out.past_key_values, torch.tensor([i for i, _ in chunk], device=device))
        kwargs = {"logits_to_keep": second.keep.to(device)} if slice_logits else {}
        logits = model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=positions.to(device),
            past_key_values=cache,
            use_cache=False,
            **kwargs,
        ).logits
        parts.append(second.gather(logits, kept=slice_logits))
    return parts


def score(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    requests: Sequence[tuple[str, str]],
    batch_size: int = 16,
    progress: bool = False,
) -> list[Scored]:
    """Score (context, continuation) pairs; results come back in the order of ``requests``. Any
    requests that share a long token prefix (one item's choices, questions on one background)
    encode it once."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not requests:
        return []
    rows, reqs = _encode_requests(tokenizer, requests, max_positions(model))
    by_row: dict[int, list[_Request]] = {}
    for req in reqs:
        by_row.setdefault(req.row, []).append(req)
    groups = sorted(_group_rows(rows), key=lambda g: (-g.prefix, -max(len(rows[r]) for r in g.rows)))
    n = len(requests)
    total, n_tokens, bad = np.zeros(n), np.zeros(n, dtype=int), np.zeros(n, dtype=int)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    slice_logits = _accepts_logits_to_keep(model)
    batches = [groups[i : i + batch_size] for i in range(0, len(groups), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="scoring", unit="batch")
    for batch in batches:
        for slots, logprobs, greedy in _score_batch(model, batch, rows, by_row, batch_size, pad, slice_logits):
            total += np.bincount(slots, weights=logprobs, minlength=n)
            n_tokens += np.bincount(slots, minlength=n)
            bad += np.bincount(slots, weights=~greedy, minlength=n).astype(int)
    return [Scored(float(total[i]), int(n_tokens[i]), bool(bad[i] == 0)) for i in range(n)]


def score_groups(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    groups: Sequence[Sequence[tuple[str, str]]],
    batch_size: int = 16,
    progress: bool = False,
) -> list[list[Scored]]:
    """``score`` for items of several choices; results come back in the shape of ``groups``."""
    flat = score(model, tokenizer, [r for g in groups for r in g], batch_size, progress)
    out, i = [], 0
    for g in groups:
        out.append(flat[i : i + len(g)])
        i += len(g)
    return out


def loglikelihoods(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    requests: Sequence[tuple[str, str]],
    batch_size: int = 16,
) -> np.ndarray:
    return np.array([s.loglikelihood for s in score(model, tokenizer, requests, batch_size)])
