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


def test_counterfactual_pairs_give_each_story_both_prompts_with_one_preference():
    js = [
        judgement(0, " yes", " yes"),  # fits: in the swapped prompt the stereotype says " no"
        judgement(1, " no", " yes"),
        judgement(2, " yes", " no"),
        judgement(3, " no", " no"),
    ]
    assert counterfactual_pairs(js, 8) == [
        {"prompt": "prompt 0 she", "chosen": " yes", "rejected": " no"},
        {"prompt": "prompt 0 he", "chosen": " yes", "rejected": " no"},
        {"prompt": "prompt 2 she", "chosen": " yes", "rejected": " no"},
        {"prompt": "prompt 2 he", "chosen": " yes", "rejected": " no"},
        {"prompt": "prompt 1 she", "chosen": " no", "rejected": " yes"},
        {"prompt": "prompt 1 he", "chosen": " no", "rejected": " yes"},
        {"prompt": "prompt 3 she", "chosen": " no", "rejected": " yes"},
        {"prompt": "prompt 3 he", "chosen": " no", "rejected": " yes"},
    ]


def test_pairs_are_balanced_over_answer_and_stereotype_fit(judgements):
    """Neither the answer nor the stereotype fit predicts the chosen response (the review found
    stereotype fit predicting it 64 of 64 times when only stereotype-contradicting prompts were kept)."""
    for make in (causal_pairs, counterfactual_pairs):
        pairs = make(judgements, 40)
        assert len(pairs) == 40 and sum(p["chosen"] == " yes" for p in pairs) == 20
    factual = {j.prompt: j for j in judgements}
    standard = causal_pairs(judgements, 40)
    fits = [factual[p["prompt"]].stereotyped == " yes" for p in standard]
    chosen_yes = [p["chosen"] == " yes" for p in standard]
    assert sum(f and c for f, c in zip(fits, chosen_yes, strict=True)) == 10  # every cell 10 of 40
    assert all(p["chosen"] == factual[p["prompt"]].causal != p["rejected"] for p in standard)
    by_prompt = {p: j for j in judgements for p in (j.prompt, j.counterfactual_prompt)}
    cf = counterfactual_pairs(judgements, 40)
    for a, b in zip(cf[0::2], cf[1::2], strict=True):  # a story's factual and gender-swapped prompt
        assert a["prompt"] != b["prompt"] and a["chosen"] == b["chosen"] and a["rejected"] == b["rejected"]
    assert all(p["chosen"] == by_prompt[p["prompt"]].causal for p in cf)


def test_too_few_stories_for_balanced_pairs_is_an_error_naming_the_fix():
    js = [judgement(i, " no", " yes") for i in range(10)]
    with pytest.raises(ValueError, match="raise data.n_stories"):
        causal_pairs(js, 8)


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
