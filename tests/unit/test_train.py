"""Packing, batching and the shared training loop."""

from __future__ import annotations

import pytest
import torch

from causal_llm.training.config import TrainingConfig
from causal_llm.training.context import LocalContext, TrainState
from causal_llm.training.loop import (
    TrainResult,
    block_batches,
    lr_multiplier,
    pack_blocks,
    sft_batches,
    train_causal_lm,
)
from tests.unit.helpers import Interrupted, KilledAfterCheckpoints


class Recorder(LocalContext):
    """A local context that keeps its progress lines."""

    def __init__(self, root, **kwargs) -> None:
        super().__init__(root / "out", root / "ckpt", quiet=True, **kwargs)
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


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


def test_train_causal_lm_lowers_the_loss_and_changes_the_parameters(
    make_tiny_model, tiny_tokenizer, sentences, tmp_path
):
    model = make_tiny_model(seed=0)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    blocks = pack_blocks(sentences, tiny_tokenizer, 16)
    batch_size = 4
    steps_per_epoch = len(blocks) // batch_size
    epochs = -(-30 // steps_per_epoch)
    cfg = TrainingConfig(epochs=epochs, batch_size=batch_size, lr=1e-2, warmup_steps=3, report_every=10)
    ctx = Recorder(tmp_path)
    result = train_causal_lm(model, block_batches(blocks, batch_size, 0), steps_per_epoch, cfg, 0, ctx)

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
    assert [line.split()[1].split("/")[0] for line in ctx.lines] == [str(s) for s in range(10, result.steps + 1, 10)]
    assert ctx.lines[0].endswith(f"loss {sum(result.losses[:10]) / 10:.3f}")


def test_train_causal_lm_is_reproducible(make_tiny_model, tiny_tokenizer, sentences, tmp_path):
    blocks = pack_blocks(sentences, tiny_tokenizer, 16)
    cfg = TrainingConfig(epochs=1, batch_size=4, lr=1e-2, checkpoint_every=0)
    runs = []
    for i in range(2):
        model = make_tiny_model(seed=0)
        runs.append(
            train_causal_lm(
                model, block_batches(blocks, 4, 0), len(blocks) // 4, cfg, 0, Recorder(tmp_path / str(i))
            ).losses
        )
    assert len(runs[0]) == len(blocks) // 4
    assert len(set(runs[0])) == len(runs[0])  # real, changing losses
    assert runs[0] == pytest.approx(runs[1], abs=1e-6)


def test_train_causal_lm_only_updates_trainable_parameters(make_tiny_model, tiny_tokenizer, sentences, tmp_path):
    model = make_tiny_model(seed=0)
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("transformer.h.0.mlp")
    frozen = model.transformer.wte.weight.detach().clone()
    mlp = model.transformer.h[0].mlp.c_fc.weight.detach().clone()
    blocks = pack_blocks(sentences, tiny_tokenizer, 16)
    train_causal_lm(
        model, block_batches(blocks, 4, 0), 5, TrainingConfig(epochs=1, batch_size=4, lr=1e-2), 0, Recorder(tmp_path)
    )
    assert torch.equal(model.transformer.wte.weight, frozen)
    assert not torch.equal(model.transformer.h[0].mlp.c_fc.weight, mlp)


# --- checkpoints and resume --------------------------------------------------------------------


def test_a_run_killed_after_a_checkpoint_resumes_to_the_same_numbers(
    make_tiny_model, tiny_tokenizer, sentences, tmp_path
):
    """Dropout (the RNG), the optimiser moments, the schedule and the data order all continue exactly."""
    blocks = pack_blocks(sentences, tiny_tokenizer, 16)
    steps = len(blocks) // 4
    cfg = TrainingConfig(epochs=3, batch_size=4, lr=1e-2, warmup_steps=2, checkpoint_every=5)
    assert steps * cfg.epochs > 10  # the kill comes mid-way, across an epoch boundary
    whole_model = make_tiny_model(seed=0).train()
    whole = train_causal_lm(whole_model, block_batches(blocks, 4, 0), steps, cfg, 0, Recorder(tmp_path / "whole"))

    killed = KilledAfterCheckpoints(tmp_path / "out", tmp_path / "ckpt", quiet=True, after=2)
    with pytest.raises(Interrupted):
        train_causal_lm(make_tiny_model(seed=0).train(), block_batches(blocks, 4, 0), steps, cfg, 0, killed)
    assert killed.saved_steps == [5, 10]
    fresh = make_tiny_model(seed=0).train()  # a new process: the model as built, before any training
    ctx = Recorder(tmp_path)
    resumed = train_causal_lm(fresh, block_batches(blocks, 4, 0), steps, cfg, 0, ctx)
    assert resumed.resumed_from == 10 and "resumed from the checkpoint at step 10" in ctx.lines[0]
    assert resumed.losses == whole.losses
    for (name, a), (_, b) in zip(whole_model.state_dict().items(), fresh.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_a_checkpoint_holds_safetensors_and_json_only(make_tiny_model, tiny_tokenizer, sentences, tmp_path):
    model = make_tiny_model(seed=0)
    blocks = pack_blocks(sentences, tiny_tokenizer, 16)
    ctx = Recorder(tmp_path)
    train_causal_lm(
        model,
        block_batches(blocks, 4, 0),
        len(blocks) // 4,
        TrainingConfig(epochs=2, batch_size=4, checkpoint_every=3),
        0,
        ctx,
    )
    latest = ctx.latest_checkpoint()
    assert latest is not None and sorted(p.name for p in latest.iterdir()) == [
        "train_state.json",
        "train_state.safetensors",
    ]
    state = TrainState.read(latest)
    assert state.step == ctx.saved_steps[-1] and len(state.losses) == state.step
    assert set(state.weights) == {n for n, p in model.named_parameters() if p.requires_grad}
    assert len(list(ctx.checkpoint_root.glob("checkpoint_*"))) == 1  # older ones are removed


def test_the_schedule_warms_up_then_decays_to_its_floor():
    cosine = lr_multiplier(TrainingConfig(warmup_steps=4, min_lr_ratio=0.1), total=20)
    assert [round(cosine(s), 3) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert cosine(20) == pytest.approx(0.1) and cosine(12) == pytest.approx(0.55)
    linear = lr_multiplier(TrainingConfig(schedule="linear", min_lr_ratio=0.0), total=10)
    assert [linear(s) for s in (0, 5, 10)] == pytest.approx([1.0, 0.5, 0.0])


def test_bf16_autocast_only_where_the_cpu_has_bf16_instructions(monkeypatch):
    from pathlib import Path

    from causal_llm.training import loop

    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "flags : fpu avx2 avx512f\n")
    assert not loop.bf16_is_fast("cpu")  # AVX2 / AVX-512 without bf16: autocast is emulated, slow
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "flags : fpu avx512f avx512_bf16 amx_bf16\n")
    assert loop.bf16_is_fast("cpu")
