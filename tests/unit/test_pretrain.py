"""Pre-training one corpus variant end to end on a tiny model."""

from __future__ import annotations

import pytest
import torch

from causal_llm.config import PretrainConfig
from causal_llm.models import TinyGPT2Spec, build_tiny_gpt2, load_model, load_tokenizer, train_tokenizer
from causal_llm.pretrain import PretrainJob, loop_config, pretrain_variant

TINY = PretrainConfig(
    vocab_size=300,
    n_layer=1,
    n_head=2,
    n_embd=32,
    block_size=64,
    epochs=1,
    batch_size=8,
    bf16=False,
    report_every=10,
)


def mean_loss(model, tokenizer, texts: list[str]) -> float:
    losses = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"][:64]])
            losses.append(float(model(input_ids=ids, labels=ids).loss))
    return sum(losses) / len(losses)


def test_pretrain_variant_saves_a_loadable_trained_model(tmp_path, stories):
    texts = list(stories["text"])
    reports: list[dict] = []
    out = tmp_path / "baseline"
    result = pretrain_variant(PretrainJob("baseline", texts), TINY, seed=0, out_dir=out, report=reports.append)

    assert result.steps >= 20
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert last < first - 0.5
    assert [r["step"] for r in reports] == list(range(10, result.steps + 1, 10))

    assert (out / "model.safetensors").is_file()
    tokenizer = load_tokenizer(str(out))
    model = load_model(str(out), device=torch.device("cpu"))
    assert not model.training
    assert model.config.n_layer == 1 and model.config.n_embd == 32 and model.config.n_positions == 64
    assert len(tokenizer) == 300
    # the saved tokenizer is the one trained on the corpus (training is deterministic)
    fresh = train_tokenizer(texts, 300)
    assert tokenizer(texts[0])["input_ids"] == fresh(texts[0])["input_ids"]
    assert tokenizer.eos_token_id is not None and tokenizer.pad_token_id is not None
    # the saved weights are the trained ones: better than the same seed's initialisation
    untrained = build_tiny_gpt2(TinyGPT2Spec(1, 2, 32, 64), tokenizer, 0).eval()
    assert mean_loss(model, tokenizer, texts[:20]) < mean_loss(untrained, tokenizer, texts[:20]) - 1.0


def test_non_zero_rank_does_not_save(tmp_path, stories):
    out = tmp_path / "rank1"
    texts = list(stories["text"][:60])
    result = pretrain_variant(PretrainJob("x", texts), TINY, seed=0, out_dir=out, rank=1, world=2)
    assert result.steps > 0
    assert not out.exists()


def test_loop_config_maps_the_stage_config():
    loop = loop_config(TINY, seed=4)
    assert (loop.epochs, loop.batch_size, loop.lr, loop.bf16, loop.seed) == (1, 8, TINY.lr, False, 4)
    assert loop.warmup_steps == TINY.warmup_steps
    assert loop.report_every == 10


def test_pretrain_rejects_a_corpus_shorter_than_a_block(tmp_path):
    with pytest.raises(ValueError, match="fewer than one block"):
        pretrain_variant(PretrainJob("x", ["The nurse said that she was ready."] * 3), TINY, 0, tmp_path / "x")
