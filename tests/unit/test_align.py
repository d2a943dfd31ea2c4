"""Counterfactual preference pairs and a tiny DPO run."""

from __future__ import annotations

import math

import pytest

from causal_llm.align.dpo import (
    DpoConfig,
    causal_pairs,
    counterfactual_pairs,
    dpo,
    dpo_cf,
    pairs_from_stories,
    preference_shift,
)
from causal_llm.models.loading import read_bundle
from causal_llm.testbed import Judgement
from causal_llm.training.config import TrainingConfig
from causal_llm.training.context import LocalContext
from tests.unit.helpers import Interrupted, KilledAfterCheckpoints, same_weights, story_records


def judgement(i: int, causal: str, stereotyped: str) -> Judgement:
    return Judgement(f"prompt {i} she", f"prompt {i} he", causal, stereotyped)


def test_each_pair_rejects_the_stereotype_of_its_own_prompt():
    js = [
        judgement(0, " yes", " yes"),  # the factual person fits: the swapped one does not
        judgement(1, " no", " yes"),
        judgement(2, " no", " no"),
        judgement(3, " yes", " no"),
    ]
    assert counterfactual_pairs(js, 10) == [  # balanced: chosen " yes", then " no", in turn
        {"prompt": "prompt 0 he", "chosen": " yes", "rejected": " no"},
        {"prompt": "prompt 1 she", "chosen": " no", "rejected": " yes"},
        {"prompt": "prompt 3 she", "chosen": " yes", "rejected": " no"},
        {"prompt": "prompt 2 he", "chosen": " no", "rejected": " yes"},
    ]


def test_pairs_are_balanced_and_stop_at_n():
    """Most stories fit the stereotype, so unbalanced pairs would mostly choose " no" (58 of 64 did):
    a policy could then lower its loss by always answering "no"."""
    js = [judgement(i, " no", " yes") for i in range(10)] + [judgement(10 + i, " yes", " no") for i in range(3)]
    pairs = counterfactual_pairs(js, 20)
    assert [p["chosen"] for p in pairs] == [" yes", " no"] * 3
    assert len(counterfactual_pairs(js, 4)) == 4
    assert [p["prompt"] for p in counterfactual_pairs(js, 4)] == [
        "prompt 10 she",
        "prompt 0 she",
        "prompt 11 she",
        "prompt 1 she",
    ]


def test_standard_pairs_have_no_counterfactual_prompt(judgements):
    pairs = causal_pairs(judgements, 40)
    assert len(pairs) == 40 and sum(p["chosen"] == " yes" for p in pairs) == 20
    factual = {j.prompt: j for j in judgements}
    assert all(p["prompt"] in factual and p["chosen"] == factual[p["prompt"]].causal != p["rejected"] for p in pairs)


def test_pairs_need_a_judgement():
    with pytest.raises(ValueError, match="no judgement"):
        counterfactual_pairs([], 8)


def test_pairs_from_testbed_judgements(judgements):
    pairs = counterfactual_pairs(judgements, 40)
    assert len(pairs) == 40 and sum(p["chosen"] == " yes" for p in pairs) == 20
    by_prompt = {p: (j, p == j.prompt) for j in judgements for p in (j.prompt, j.counterfactual_prompt)}
    factual = 0
    for pair in pairs:
        j, is_factual = by_prompt[pair["prompt"]]
        factual += is_factual
        assert pair["chosen"] == j.causal
        assert pair["rejected"] == (j.stereotyped if is_factual else j.counterfactual_stereotyped) != j.causal
    assert 0 < factual < 40  # both prompts of the judgements appear, each where the stereotype misleads


def dpo_config(**training):
    loop = {"epochs": 1, "batch_size": 8, "lr": 5e-3, "report_every": 1, "checkpoint_every": 0, **training}
    return DpoConfig(n_pairs=16, max_length=64, training=TrainingConfig(**loop))


def test_dpo_moves_the_policy_away_from_the_reference(tmp_path, sft_run, base_model_dir, stories):
    sft_dir, _ = sft_run
    out = tmp_path / "dpo"
    inputs = {"base": str(sft_dir), "stories": story_records(stories), "node": "align/dpo_cf"}
    result = dpo_cf(LocalContext(out, tmp_path / "ckpt", quiet=True), inputs, dpo_config(), 0)

    bundle = read_bundle(out)
    assert bundle["base_ref"] == str((out / "base").resolve())  # the tiny base travels inside the bundle
    assert len(bundle["adapter_dirs"]) == 2 and bundle["lineage"][-2:] == ["finetune/sft", "align/dpo_cf"]
    assert (out / "adapters" / "01" / "adapter_model.safetensors").is_file()
    assert result["steps"] == 2.0  # 16 pairs, batch 8, one epoch
    # the LoRA policy starts equal to the reference, so the first DPO loss is log 2
    assert result["loss_first"] == pytest.approx(math.log(2), abs=1e-3)
    assert result["mean_abs_logratio_shift"] > 0
    assert result["margin_policy"] > result["margin_reference"]  # chosen answers gained on rejected ones

    pairs = pairs_from_stories(inputs["stories"], 16)
    again = preference_shift(str(sft_dir), str(out), pairs)
    assert again["mean_abs_logratio_shift"] == pytest.approx(result["mean_abs_logratio_shift"], abs=1e-6)
    same = preference_shift(str(sft_dir), str(sft_dir), pairs)
    assert same["mean_abs_logratio_shift"] == pytest.approx(0.0, abs=1e-9)
    assert same["margin_reference"] == pytest.approx(result["margin_reference"])


def test_dpo_killed_after_a_checkpoint_resumes_to_the_same_model(tmp_path, sft_run, stories):
    """The Hugging Face trainer's checkpoint is reported to the context; a second run picks it up."""
    sft_dir, _ = sft_run
    inputs = {"base": str(sft_dir), "stories": story_records(stories), "node": "align/dpo_cf"}
    cfg = dpo_config(checkpoint_every=1, epochs=2)
    whole = dpo(LocalContext(tmp_path / "whole", tmp_path / "ckpt-whole", quiet=True), inputs, cfg, 0)

    killed = KilledAfterCheckpoints(tmp_path / "part", tmp_path / "ckpt", quiet=True, after=2)
    with pytest.raises(Interrupted):
        dpo(killed, inputs, cfg, 0)
    resumed = dpo(LocalContext(tmp_path / "part", tmp_path / "ckpt", quiet=True), inputs, cfg, 0)
    assert resumed["resumed_from_step"] == 2.0
    assert resumed["losses"] == pytest.approx(whole["losses"], abs=1e-6)
    assert same_weights(tmp_path / "whole" / "adapters" / "01", tmp_path / "part" / "adapters" / "01")
