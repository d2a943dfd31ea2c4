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

import inspect
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


@dataclass
class _Group:
    """The token sequences of one item's requests and where their shared prefix ends."""

    seqs: list[list[int]]  # context + continuation tokens, left-truncated to the model's window
    cont_starts: list[int]  # index of each sequence's first continuation token
    slots: list[int]  # where each request's result goes
    prefix: int  # tokens [0, prefix) are encoded once for the whole group

    @property
    def width(self) -> int:
        return max(len(s) for s in self.seqs)


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


def _shared_prefix(seqs: list[list[int]]) -> int:
    """Length of the common token prefix, leaving every sequence at least one token to predict."""
    limit = min(len(s) for s in seqs) - 1
    n = 0
    while n < limit and all(s[n] == seqs[0][n] for s in seqs[1:]):
        n += 1
    return n if len(seqs) > 1 else limit


# A second (masked, cached) pass costs about as much as re-encoding a short prefix: share a prefix
# only when it saves this share of the group's tokens, or when no second pass is needed at all.
MIN_SAVED_FRACTION = 0.3


def _worth_sharing(seqs: list[list[int]], prefix: int) -> bool:
    if len(seqs) == 1 or all(len(s) - 1 == prefix for s in seqs):
        return True
    saved = (len(seqs) - 1) * prefix
    return saved >= MIN_SAVED_FRACTION * sum(len(s) - 1 for s in seqs)


def _build_groups(
    tokenizer: PreTrainedTokenizerBase, groups: Sequence[Sequence[tuple[str, str]]], window: int
) -> list[_Group]:
    out, slot = [], 0
    for requests in groups:
        seqs, starts, slots = [], [], []
        for context, continuation in requests:
            ctx, cont = encode_pair(tokenizer, context, continuation)
            if not cont:
                raise ValueError(f"empty continuation for context {context[:60]!r}")
            if len(cont) >= window + 1:
                raise ValueError(f"a continuation of {len(cont)} tokens does not fit the model's {window} positions")
            full = (ctx + cont)[-(window + 1) :]  # keep the continuation; cut the context from the left
            seqs.append(full)
            starts.append(len(full) - len(cont))
            slots.append(slot)
            slot += 1
        prefix = _shared_prefix(seqs) if seqs else 0
        if prefix and _worth_sharing(seqs, prefix):
            out.append(_Group(seqs, starts, slots, prefix))
        else:  # each request alone, in one pass
            out += [_Group([s], [c], [i], len(s) - 1) for s, c, i in zip(seqs, starts, slots, strict=True)]
    return out


def _batches(groups: list[_Group], batch_size: int) -> list[list[_Group]]:
    """Longest first (lm-eval's order: the first batch shows the worst memory at once); a batch
    holds up to ``batch_size`` sequences, and at least one whole group."""
    ordered = sorted(groups, key=lambda g: (-g.width, -g.prefix))
    batches: list[list[_Group]] = []
    current: list[_Group] = []
    rows = 0
    for group in ordered:
        if current and rows + len(group.seqs) > batch_size:
            batches.append(current)
            current, rows = [], 0
        current.append(group)
        rows += len(group.seqs)
    if current:
        batches.append(current)
    return batches


def _accepts_logits_to_keep(model: PreTrainedModel) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


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
def _score_batch(model: PreTrainedModel, batch: list[_Group], pad: int, slice_logits: bool) -> list[np.ndarray]:
    device = next(model.parameters()).device
    # Pass 1: each group's shared prefix, once.
    width = max(g.prefix for g in batch)
    inputs = torch.full((len(batch), width), pad, dtype=torch.long)
    first = _Targets(len(batch), width)
    for row, g in enumerate(batch):
        inputs[row, : g.prefix] = torch.tensor(g.seqs[0][: g.prefix])
        for seq, start, slot in zip(g.seqs, g.cont_starts, g.slots, strict=True):
            for t in range(max(start, 1), g.prefix + 1):  # tokens predicted from inside the prefix
                first.add(row, t - 1, seq[t], slot)
    suffixes = [
        (row, seq[g.prefix : len(seq) - 1], start, len(seq), seq, slot)
        for row, g in enumerate(batch)
        for seq, start, slot in zip(g.seqs, g.cont_starts, g.slots, strict=True)
        if len(seq) - 1 > g.prefix
    ]
    kwargs = {"logits_to_keep": first.keep.to(device)} if slice_logits else {}
    out = model(input_ids=inputs.to(device), use_cache=bool(suffixes), **kwargs)
    parts = [first.gather(out.logits, kept=slice_logits)]
    if suffixes:
        # Pass 2: every choice's remaining tokens, attending to its group's (unpadded) prefix.
        cache = out.past_key_values
        cache.reorder_cache(torch.tensor([s[0] for s in suffixes], device=device))
        s_width = max(len(s[1]) for s in suffixes)
        ids = torch.full((len(suffixes), s_width), pad, dtype=torch.long)
        mask = torch.zeros((len(suffixes), width + s_width), dtype=torch.long)
        positions = torch.zeros((len(suffixes), s_width), dtype=torch.long)
        second = _Targets(len(suffixes), s_width)
        for row, (group_row, tokens, start, length, seq, slot) in enumerate(suffixes):
            prefix = batch[group_row].prefix
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, :prefix] = 1
            mask[row, width : width + len(tokens)] = 1
            positions[row] = prefix + torch.arange(s_width)
            for t in range(max(start, prefix + 1), length):
                second.add(row, t - 1 - prefix, seq[t], slot)
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


def score_groups(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    groups: Sequence[Sequence[tuple[str, str]]],
    batch_size: int = 16,
    progress: bool = False,
) -> list[list[Scored]]:
    """Score each group's (context, continuation) requests - typically one multiple-choice item's
    choices - encoding the group's shared prefix once. Results come back in the shape of ``groups``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    built = _build_groups(tokenizer, groups, max_positions(model))
    n = sum(len(g) for g in groups)
    total, n_tokens, bad = np.zeros(n), np.zeros(n, dtype=int), np.zeros(n, dtype=int)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    slice_logits = _accepts_logits_to_keep(model)
    batches = _batches(built, batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="scoring", unit="batch")
    for batch in batches:
        for slots, logprobs, greedy in _score_batch(model, batch, pad, slice_logits):
            total += np.bincount(slots, weights=logprobs, minlength=n)
            n_tokens += np.bincount(slots, minlength=n)
            bad += np.bincount(slots, weights=~greedy, minlength=n).astype(int)
    flat = [Scored(float(total[i]), int(n_tokens[i]), bool(bad[i] == 0)) for i in range(n)]
    out, i = [], 0
    for g in groups:
        out.append(flat[i : i + len(g)])
        i += len(g)
    return out


def score(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    requests: Sequence[tuple[str, str]],
    batch_size: int = 16,
    progress: bool = False,
) -> list[Scored]:
    """Score (context, continuation) pairs in the order given; requests with the same non-empty
    context are scored as one group (the context is encoded once)."""
    by_context: dict[str, list[int]] = {}
    singles: list[list[int]] = []
    for i, (context, _) in enumerate(requests):
        if context:
            by_context.setdefault(context, []).append(i)
        else:
            singles.append([i])
    index_groups = list(by_context.values()) + singles
    scored = score_groups(model, tokenizer, [[requests[i] for i in g] for g in index_groups], batch_size, progress)
    out: list[Scored | None] = [None] * len(requests)
    for idx, results in zip(index_groups, scored, strict=True):
        for i, result in zip(idx, results, strict=True):
            out[i] = result
    return out  # type: ignore[return-value]


def loglikelihoods(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    requests: Sequence[tuple[str, str]],
    batch_size: int = 16,
) -> np.ndarray:
    return np.array([s.loglikelihood for s in score(model, tokenizer, requests, batch_size)])
