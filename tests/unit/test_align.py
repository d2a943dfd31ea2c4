"""Counterfactual preference pairs and a tiny DPO run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from causal_llm.align import counterfactual_pairs, preference_shift, train_dpo
from causal_llm.config import AlignConfig
from causal_llm.models import CHAIN_FILE, read_chain
from causal_llm.testbed import Judgement


def judgement(i: int, causal: str, stereotyped: str) -> Judgement:
    return Judgement(f"prompt {i} she", f"prompt {i} he", causal, stereotyped)


def test_pairs_keep_only_disagreements_with_both_prompts():
    js = [
        judgement(0, " yes", " yes"),
        judgement(1, " no", " yes"),
        judgement(2, " no", " no"),
        judgement(3, " yes", " no"),
    ]
    pairs = counterfactual_pairs(js, 10)
    assert pairs == [
        {"prompt": "prompt 1 she", "chosen": " no", "rejected": " yes"},
        {"prompt": "prompt 1 he", "chosen": " no", "rejected": " yes"},
        {"prompt": "prompt 3 she", "chosen": " yes", "rejected": " no"},
        {"prompt": "prompt 3 he", "chosen": " yes", "rejected": " no"},
    ]


def test_pairs_stop_at_n():
    js = [judgement(i, " no", " yes") for i in range(10)]
    assert len(counterfactual_pairs(js, 4)) == 4
    three = counterfactual_pairs(js, 3)
    assert [p["prompt"] for p in three] == ["prompt 0 she", "prompt 0 he", "prompt 1 she"]


def test_pairs_need_a_disagreement():
    with pytest.raises(ValueError, match="no judgement"):
        counterfactual_pairs([judgement(0, " yes", " yes"), judgement(1, " no", " no")], 8)


def test_pairs_from_testbed_judgements(judgements):
    pairs = counterfactual_pairs(judgements, 40)
    assert len(pairs) == 40
    by_prompt = {j.prompt: j for j in judgements}
    for factual, counterfactual in zip(pairs[::2], pairs[1::2], strict=True):
        j = by_prompt[factual["prompt"]]
        assert counterfactual["prompt"] == j.counterfactual_prompt
        assert factual["chosen"] == counterfactual["chosen"] == j.causal
        assert factual["rejected"] == counterfactual["rejected"] == j.stereotyped
        assert j.causal != j.stereotyped


def test_dpo_moves_the_policy_away_from_the_reference(tmp_path, sft_run, base_model_dir, judgements):
    sft_dir, _ = sft_run
    pairs = counterfactual_pairs(judgements, 16)
    cfg = AlignConfig(n_pairs=16, batch_size=8, epochs=1, lr=5e-3, max_length=64)
    out = tmp_path / "dpo"
    result = train_dpo(str(sft_dir), pairs, cfg, 0, out)

    assert read_chain(out) == (str(Path(base_model_dir).resolve()), [str(Path(sft_dir).resolve()), str(out.resolve())])
    assert json.loads((out / CHAIN_FILE).read_text())["base_is_path"] is True
    assert (out / "adapter_model.safetensors").is_file()
    assert result["steps"] == 2.0  # 16 pairs, batch 8, one epoch
    # the LoRA policy starts equal to the reference, so the first DPO loss is log 2
    assert result["loss_first"] == pytest.approx(math.log(2), abs=1e-3)
    assert result["mean_abs_logratio_shift"] > 0
    assert result["margin_policy"] > result["margin_reference"]  # chosen answers gained on rejected ones

    again = preference_shift(str(sft_dir), str(out), pairs)
    assert again["mean_abs_logratio_shift"] == pytest.approx(result["mean_abs_logratio_shift"], abs=1e-6)
    same = preference_shift(str(sft_dir), str(sft_dir), pairs)
    assert same["mean_abs_logratio_shift"] == pytest.approx(0.0, abs=1e-9)
    assert same["margin_policy"] == pytest.approx(same["margin_reference"])
    assert same["margin_reference"] == pytest.approx(result["margin_reference"])
