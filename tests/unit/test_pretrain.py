"""Pre-training one corpus variant end to end on a tiny model, as a Ray worker runs it but in-process."""

from __future__ import annotations

import pytest
import torch

from causal_llm.models.loading import load_model, load_tokenizer
from causal_llm.models.tiny import TinyGPT2Config, build_tiny_gpt2, train_tokenizer
from causal_llm.pretrain.scratch import ScratchConfig, pretrain_from_scratch
from causal_llm.training.config import TrainingConfig
from causal_llm.training.context import LocalContext
from causal_llm.training.jobs import job_context, run_method, training_job
from causal_llm.training.ray_edge import run_locally

TINY = ScratchConfig(
    model=TinyGPT2Config(vocab_size=300, n_layer=1, n_head=2, n_embd=32, block_size=64),
    training=TrainingConfig(epochs=1, batch_size=8, lr=2e-3, warmup_steps=5, report_every=10, checkpoint_every=0),
)


def mean_loss(model, tokenizer, texts: list[str]) -> float:
    losses = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"][:64]])
            losses.append(float(model(input_ids=ids, labels=ids).loss))
    return sum(losses) / len(losses)


def test_pretraining_saves_a_loadable_trained_model(tmp_path, stories):
    texts = list(stories["text"])
    out = tmp_path / "baseline"
    summary = pretrain_from_scratch(LocalContext(out, tmp_path / "ckpt", quiet=True), {"texts": texts}, TINY, 0)

    assert summary["steps"] >= 20
    losses = summary["losses"]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5
    assert (out / "model.safetensors").is_file()
    tokenizer = load_tokenizer(str(out))
    model = load_model(str(out), device=torch.device("cpu"))
    assert not model.training
    assert model.config.n_layer == 1 and model.config.n_embd == 32 and model.config.n_positions == 64
    assert len(tokenizer) == 300
    # the saved tokenizer is the one trained on the corpus (training is deterministic)
    fresh = train_tokenizer(texts, 300)
    assert tokenizer(texts[0])["input_ids"] == fresh(texts[0])["input_ids"]
    # the saved weights are the trained ones: better than the same seed's initialisation
    untrained = build_tiny_gpt2(TINY.model, tokenizer, 0).eval()
    assert mean_loss(model, tokenizer, texts[:20]) < mean_loss(untrained, tokenizer, texts[:20]) - 1.0


def test_a_non_zero_rank_trains_its_shard_and_saves_nothing(tmp_path, stories):
    ctx = LocalContext(tmp_path / "rank1", tmp_path / "ckpt", quiet=True)
    ctx.rank, ctx.world = 1, 2
    summary = pretrain_from_scratch(ctx, {"texts": list(stories["text"][:100])}, TINY, 0)
    assert summary["steps"] > 0
    assert not (tmp_path / "rank1").exists()


def test_a_corpus_shorter_than_a_batch_is_refused(tmp_path):
    ctx = LocalContext(tmp_path / "x", tmp_path / "ckpt", quiet=True)
    with pytest.raises(ValueError, match="fewer than one block|fewer than one batch"):
        pretrain_from_scratch(ctx, {"texts": ["The nurse said that she was ready."] * 3}, TINY, 0)


def test_the_job_a_variant_sends_to_ray_runs_the_registered_method(tmp_path, stories):
    """What every Ray worker runs (``run_method``), here in-process: same config, same numbers."""
    from causal_llm.params import Variant

    variant = Variant("pretrain", "baseline", "scratch", ("data/original",), None, TINY)
    job = training_job(variant, variant.id, 0, {"texts": list(stories["text"])}, [], ())
    assert job.run_name.startswith("pretrain-baseline-") and len(job.fingerprint) == 64
    assert training_job(variant, variant.id, 1, {"texts": list(stories["text"])}, [], ()).fingerprint != job.fingerprint
    # Another code version or world size is another run: its checkpoints are not resumed.
    texts = {"texts": list(stories["text"])}
    code = tmp_path / "method.py"
    code.write_text("v = 1\n")
    one = training_job(variant, variant.id, 0, texts, [], (), context=job_context([str(code)], 1))
    code.write_text("v = 2\n")
    assert (
        training_job(variant, variant.id, 0, texts, [], (), context=job_context([str(code)], 1)).run_name
        != one.run_name
    )
    assert (
        training_job(variant, variant.id, 0, texts, [], (), context=job_context([str(code)], 2)).run_name
        != one.run_name
    )
    assert (
        training_job(variant, variant.id, 0, texts, [], (), context=job_context([str(code)], 1, 2)).run_name
        != one.run_name
    )
    direct = run_method(LocalContext(tmp_path / "a", tmp_path / "ck-a", quiet=True), job.payload)
    local = run_locally(job, tmp_path / "b", tmp_path / "ck-b", quiet=True)
    assert local["losses"] == direct["losses"] and local["world_size"] == 1
    assert (tmp_path / "b" / "model.safetensors").is_file() and not (tmp_path / "ck-b").exists()


def test_a_large_input_of_the_same_size_but_other_bytes_is_another_input(tmp_path):
    from causal_llm.training.ray_edge import content_digest

    weights = tmp_path / "model" / "model.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"a" * 4096)
    before = content_digest(weights.parent, limit=1024)  # over the limit: sampled, not read whole
    weights.write_bytes(b"b" + b"a" * 4095)
    assert content_digest(weights.parent, limit=1024) != before
