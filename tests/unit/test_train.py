"""Packing, batching and the shared training loop."""

from __future__ import annotations

import pytest
import torch

from causal_llm.train import LoopConfig, TrainResult, block_batches, pack_blocks, sft_batches, train_causal_lm


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


# --- pack_blocks -------------------------------------------------------------------------------


def test_pack_blocks_shape_and_eos_separators(tiny_tokenizer, sentences):
    texts = sentences[:6]
    expected: list[int] = []
    for t in texts:
        expected += ids(tiny_tokenizer, t) + [tiny_tokenizer.eos_token_id]
    blocks = pack_blocks(texts, tiny_tokenizer, 8)
    n = len(expected) // 8
    assert blocks.shape == (n, 8)
    assert blocks.dtype == torch.long
    assert blocks.flatten().tolist() == expected[: n * 8]
    # an EOS after every document that fits, at the document boundaries
    flat = blocks.flatten().tolist()
    boundaries = []
    pos = 0
    for t in texts:
        pos += len(ids(tiny_tokenizer, t))
        boundaries.append(pos)
        pos += 1
    eos_at = [i for i, tok in enumerate(flat) if tok == tiny_tokenizer.eos_token_id]
    assert eos_at == [b for b in boundaries if b < len(flat)]
    assert len(eos_at) >= 5


def test_pack_blocks_too_short_raises(tiny_tokenizer):
    with pytest.raises(ValueError, match="fewer than one block"):
        pack_blocks(["The nurse."], tiny_tokenizer, 64)


# --- block_batches -----------------------------------------------------------------------------


def rows_of(batches) -> list[tuple[int, ...]]:
    return [tuple(row.tolist()) for b in batches for row in b["input_ids"]]


def test_block_batches_single_rank_covers_every_block_each_epoch():
    blocks = torch.arange(20 * 4).view(20, 4)
    make = block_batches(blocks, batch_size=4, seed=0)
    batches = list(make(0))
    assert len(batches) == 5
    for b in batches:
        assert b["input_ids"].shape == (4, 4)
        assert torch.equal(b["labels"], b["input_ids"])
        assert b["labels"].data_ptr() != b["input_ids"].data_ptr()
        assert torch.equal(b["attention_mask"], torch.ones_like(b["input_ids"]))
    assert sorted(rows_of(batches)) == sorted(tuple(r.tolist()) for r in blocks)
    # shuffled, reproducible per epoch, different across epochs
    assert rows_of(make(0)) == rows_of(batches)
    assert rows_of(make(1)) != rows_of(batches)
    assert rows_of(batches) != [tuple(r.tolist()) for r in blocks]


def test_block_batches_ranks_get_disjoint_equal_shards():
    blocks = torch.arange(24 * 3).view(24, 3)
    rank0 = rows_of(block_batches(blocks, 3, seed=5, rank=0, world=2)(0))
    rank1 = rows_of(block_batches(blocks, 3, seed=5, rank=1, world=2)(0))
    assert len(rank0) == len(rank1) == 12
    assert set(rank0).isdisjoint(rank1)
    assert sorted(rank0 + rank1) == sorted(tuple(r.tolist()) for r in blocks)


def test_block_batches_drops_the_last_partial_batch():
    blocks = torch.arange(10 * 2).view(10, 2)
    batches = list(block_batches(blocks, 4, seed=0)(0))
    assert [b["input_ids"].shape[0] for b in batches] == [4, 4]


def test_block_batches_ranks_get_equal_batch_counts_for_any_block_count():
    blocks = torch.arange(9 * 2).view(9, 2)
    counts = [len(list(block_batches(blocks, 1, seed=0, rank=r, world=2)(0))) for r in (0, 1)]
    assert counts[0] == counts[1]


# --- sft_batches -------------------------------------------------------------------------------

SFT_PAIRS = [
    ("Instruction: tell me about a nurse.\nResponse:", " The nurse said that she was happy."),
    ("Q: who?\nA:", " he"),
    ("Instruction: a pilot.\nResponse:", " The pilot took the course."),
]


def test_sft_batches_mask_the_prompt_and_keep_response_and_eos(tiny_tokenizer):
    tok = tiny_tokenizer
    batches = list(sft_batches(SFT_PAIRS, tok, batch_size=8, max_length=64, seed=0)(0))
    assert len(batches) == 1
    batch = batches[0]
    width = max(len(ids(tok, p)) + len(ids(tok, r)) + 1 for p, r in SFT_PAIRS)
    assert batch["input_ids"].shape == batch["labels"].shape == (3, width)
    seen = set()
    for row in range(3):
        n = int(batch["attention_mask"][row].sum())
        first = batch["input_ids"][row, :n].tolist()
        matches = [(p, r) for p, r in SFT_PAIRS if ids(tok, p) + ids(tok, r) + [tok.eos_token_id] == first]
        assert len(matches) == 1
        prompt, response = matches[0]
        seen.add(prompt)
        n_p = len(ids(tok, prompt))
        labels = batch["labels"][row].tolist()
        assert labels[:n_p] == [-100] * n_p
        assert labels[n_p:n] == ids(tok, response) + [tok.eos_token_id]
        assert labels[n:] == [-100] * (width - n)
        assert batch["input_ids"][row, n:].tolist() == [tok.pad_token_id] * (width - n)
        assert batch["attention_mask"][row, :n].tolist() == [1] * n
    assert seen == {p for p, _ in SFT_PAIRS}


def test_sft_batches_truncate_to_max_length_and_shuffle_per_epoch(tiny_tokenizer):
    pairs = [(f"P{i}:", " The nurse said that she was ready for work.") for i in range(12)]
    make = sft_batches(pairs, tiny_tokenizer, batch_size=5, max_length=6, seed=1)
    batches = list(make(0))
    assert [b["input_ids"].shape[0] for b in batches] == [5, 5, 2]
    assert all(b["input_ids"].shape[1] <= 6 for b in batches)
    order0 = [tuple(r.tolist()) for b in batches for r in b["input_ids"]]
    order1 = [tuple(r.tolist()) for b in make(1) for r in b["input_ids"]]
    assert sorted(order0) == sorted(order1)
    assert order0 != order1
    assert order0 == [tuple(r.tolist()) for b in make(0) for r in b["input_ids"]]


# --- the training loop -------------------------------------------------------------------------


def test_train_causal_lm_lowers_the_loss_and_changes_the_parameters(make_tiny_model, tiny_tokenizer, sentences):
    model = make_tiny_model(seed=0)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    blocks = pack_blocks(sentences, tiny_tokenizer, 16)
    batch_size = 4
    steps_per_epoch = len(blocks) // batch_size
    epochs = -(-30 // steps_per_epoch)
    reports: list[dict] = []
    cfg = LoopConfig(epochs=epochs, batch_size=batch_size, lr=1e-2, warmup_steps=3, report_every=10, seed=0)
    result = train_causal_lm(model, block_batches(blocks, batch_size, 0), steps_per_epoch, cfg, reports.append)

    assert isinstance(result, TrainResult)
    assert result.steps == len(result.losses) == steps_per_epoch * epochs >= 30
    assert result.tokens == result.steps * batch_size * 16
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert last < first - 0.5
    summary = result.summary()
    assert summary["loss_last"] < summary["loss_first"]
    assert summary["steps"] == result.steps
    assert result.tokens_per_second > 0
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert "transformer.wte.weight" in changed
    assert len(changed) > len(before) // 2
    assert not model.training  # left in eval mode
    assert [r["step"] for r in reports] == list(range(10, result.steps + 1, 10))
    assert reports[0]["loss"] == pytest.approx(sum(result.losses[:10]) / 10)


def test_train_causal_lm_is_reproducible(make_tiny_model, tiny_tokenizer, sentences):
    blocks = pack_blocks(sentences, tiny_tokenizer, 16)
    cfg = LoopConfig(epochs=1, batch_size=4, lr=1e-2, seed=0)
    runs = []
    for _ in range(2):
        model = make_tiny_model(seed=0)
        runs.append(train_causal_lm(model, block_batches(blocks, 4, 0), len(blocks) // 4, cfg).losses)
    assert len(runs[0]) == len(blocks) // 4
    assert len(set(runs[0])) == len(runs[0])  # real, changing losses
    assert runs[0] == pytest.approx(runs[1], abs=1e-6)


def test_train_causal_lm_only_updates_trainable_parameters(make_tiny_model, tiny_tokenizer, sentences):
    model = make_tiny_model(seed=0)
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("transformer.h.0.mlp")
    frozen = model.transformer.wte.weight.detach().clone()
    mlp = model.transformer.h[0].mlp.c_fc.weight.detach().clone()
    blocks = pack_blocks(sentences, tiny_tokenizer, 16)
    train_causal_lm(model, block_batches(blocks, 4, 0), 5, LoopConfig(epochs=1, batch_size=4, lr=1e-2))
    assert torch.equal(model.transformer.wte.weight, frozen)
    assert not torch.equal(model.transformer.h[0].mlp.c_fc.weight, mlp)
