"""Alignment with DPO (Rafailov et al. 2023) through ``trl.DPOTrainer`` on counterfactual pairs.

Counterfactual preference pairs (METHODS.md): the preferred response is the judgement that does not
change when the protected attribute of the prompt is intervened on (here, promotion read from skill
and experience through the SCM); the rejected one follows the spurious cue (whether the person fits
the occupation's gender stereotype). Each pair appears with the factual and the gender-swapped
prompt, so the preference itself is invariant under the swap.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from causal_llm.config import AlignConfig
from causal_llm.finetune import chain_of, lora_config
from causal_llm.models import load_model, load_tokenizer, save_adapter
from causal_llm.scoring import loglikelihoods, max_positions
from causal_llm.testbed import Judgement


def counterfactual_pairs(judgements: Sequence[Judgement], n: int) -> list[dict[str, str]]:
    """Pairs from judgements where the causal and the stereotyped answers disagree."""
    pairs = []
    for j in judgements:
        if j.causal == j.stereotyped:
            continue
        for prompt in (j.prompt, j.counterfactual_prompt):
            pairs.append({"prompt": prompt, "chosen": j.causal, "rejected": j.stereotyped})
        if len(pairs) >= n:
            break
    if not pairs:
        raise ValueError("no judgement where the causal and the stereotyped answer differ: raise data.n_stories")
    return pairs[:n]


def train_dpo(
    sft_ref: str, pairs: list[dict[str, str]], cfg: AlignConfig, seed: int, out_dir: str | Path
) -> dict[str, float]:
    """Train a LoRA DPO adapter on top of the (merged) SFT model; the reference is the SFT model."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    tokenizer = load_tokenizer(sft_ref)
    policy = load_model(sft_ref)
    with tempfile.TemporaryDirectory() as tmp:
        args = DPOConfig(
            output_dir=tmp,
            beta=cfg.beta,
            learning_rate=cfg.lr,
            per_device_train_batch_size=cfg.batch_size,
            num_train_epochs=cfg.epochs,
            max_length=min(cfg.max_length, max_positions(policy)),
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            seed=seed,
            disable_tqdm=True,
            use_cpu=policy.device.type == "cpu",
        )
        torch.manual_seed(seed)  # DPOTrainer draws the LoRA init before the Trainer seeds itself
        trainer = DPOTrainer(
            model=policy,
            args=args,
            train_dataset=Dataset.from_list(pairs),
            processing_class=tokenizer,
            peft_config=lora_config(cfg.lora_r, cfg.lora_alpha, 0.0),
        )
        trainer.train()
        losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    base, adapters = chain_of(sft_ref)
    save_adapter(trainer.model, tokenizer, out_dir, base, adapters)
    return {
        **preference_shift(sft_ref, str(out_dir), pairs),
        "loss_first": float(losses[0]),
        "loss_last": float(losses[-1]),
        "steps": float(len(losses)),
    }


def preference_shift(reference_ref: str, policy_ref: str, pairs: Sequence[dict[str, str]]) -> dict[str, float]:
    """How far the policy moved from the reference on the pairs, by our own scorer."""
    chosen = [(p["prompt"], p["chosen"]) for p in pairs]
    rejected = [(p["prompt"], p["rejected"]) for p in pairs]
    out = {}
    for name, ref in (("reference", reference_ref), ("policy", policy_ref)):
        model, tok = load_model(ref), load_tokenizer(ref)
        out[name] = loglikelihoods(model, tok, chosen) - loglikelihoods(model, tok, rejected)
    margin_ref, margin_pol = out["reference"], out["policy"]
    return {
        "margin_reference": float(margin_ref.mean()),
        "margin_policy": float(margin_pol.mean()),
        "preference_accuracy_reference": float((margin_ref > 0).mean()),
        "preference_accuracy_policy": float((margin_pol > 0).mean()),
        "mean_abs_logratio_shift": float(np.abs(margin_pol - margin_ref).mean()),
    }
