"""DPO (Rafailov et al. 2023) through ``trl.DPOTrainer`` on counterfactual preference pairs.

``dpo`` is standard DPO on the SCM's answers; ``dpo_cf`` adds counterfactual preference pairs
(docs/methods.md#dpo): the preferred response is the judgement that does not change when the
protected attribute of the prompt is intervened on (promotion read from skill and experience through
the SCM), given for the factual and the gender-swapped prompt alike, so the preference itself is
invariant under the swap and the stereotype's answer is rejected in one prompt of every pair.

The Hugging Face trainer saves a checkpoint every ``training.checkpoint_every`` steps; on Ray
Train, Ray's Transformers integration (``prepare_trainer``, ``RayTrainReportCallback``) reports it
to Ray's storage, and a resumed run continues from it (``Trainer.train(resume_from_checkpoint)``).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from causal_llm.align import ALIGN_METHODS
from causal_llm.config import require
from causal_llm.models.lora import LoraSettings
from causal_llm.testbed import Judgement
from causal_llm.training.config import TrainingConfig

HF_CHECKPOINT = "checkpoint"  # the Hugging Face checkpoint folder inside a reported one (Ray's layout)


def _dpo_training() -> TrainingConfig:
    # The Hugging Face trainer's defaults (linear decay to 0, fp32): what this method has always used.
    return TrainingConfig(
        epochs=1, batch_size=8, lr=5e-4, schedule="linear", min_lr_ratio=0.0, report_every=1, checkpoint_every=0
    )


@dataclass(frozen=True)
class DpoConfig:
    n_pairs: int = 64
    beta: float = 0.1
    max_length: int = 160
    lora: LoraSettings = field(default_factory=LoraSettings)
    training: TrainingConfig = field(default_factory=_dpo_training)

    def __post_init__(self) -> None:
        require(self.beta > 0, "beta must be > 0")
        require(self.n_pairs >= 8, "n_pairs must be >= 8")
        require(
            self.training.min_lr_ratio == 0 or self.training.schedule == "cosine",
            "training.min_lr_ratio > 0 needs training.schedule: cosine with the Hugging Face trainer",
        )

    def to_trl(self, output_dir: str, seed: int, use_cpu: bool, max_length: int) -> Any:
        """trl's DPOConfig, built at the edge: nothing of it is a config of ours."""
        from trl import DPOConfig

        from causal_llm.training.loop import BF16_FALLBACK, bf16_is_fast

        t = self.training
        bf16 = t.bf16 and bf16_is_fast("cpu" if use_cpu else "cuda")
        if t.bf16 and not bf16:
            print(BF16_FALLBACK, flush=True)
        schedule = {"lr_scheduler_type": "linear"}
        if t.schedule == "cosine":
            schedule = {
                "lr_scheduler_type": "cosine_with_min_lr",
                "lr_scheduler_kwargs": {"min_lr_rate": t.min_lr_ratio},
            }
        return DPOConfig(
            output_dir=output_dir,
            beta=self.beta,
            learning_rate=t.lr,
            per_device_train_batch_size=t.batch_size,
            num_train_epochs=t.epochs,
            warmup_steps=t.warmup_steps,
            weight_decay=t.weight_decay,
            max_grad_norm=t.grad_clip,
            bf16=bf16,
            max_length=max_length,
            logging_steps=t.report_every,
            save_strategy="steps" if t.checkpoint_every else "no",
            save_steps=t.checkpoint_every or 500,
            save_total_limit=1,
            report_to="none",
            seed=seed,
            disable_tqdm=True,
            use_cpu=use_cpu,
            **schedule,
        )


OTHER = {" yes": " no", " no": " yes"}


def _balanced(judgements: Sequence[Judgement], n: int) -> list[Judgement]:
    """n judgements, one in each cell of (causal answer) x (stereotype fit) in turn, so neither the
    answer nor the stereotype predicts the chosen response: most stories fit the stereotype, and
    unbalanced pairs chose " no" 58 times in 64, rewarding a policy that always answers "no"."""
    cells: dict[tuple[str, str], list[Judgement]] = {}
    for j in judgements:
        cells.setdefault((j.causal, j.stereotyped), []).append(j)
    keys = [(a, b) for a in (" yes", " no") for b in (" yes", " no")]
    per_cell = -(-n // 4)
    if any(len(cells.get(k, [])) < per_cell for k in keys):
        have = {f"{a.strip()}/{'fits' if b == ' yes' else 'does not fit'}": len(cells.get((a, b), [])) for a, b in keys}
        raise ValueError(
            f"{n} balanced preference examples need {per_cell} per cell, have {have}: raise data.n_stories"
        )
    return [cells[k][i] for i in range(per_cell) for k in keys][:n]


def causal_pairs(judgements: Sequence[Judgement], n: int) -> list[dict[str, str]]:
    """Standard DPO's pairs, the baseline of ``dpo_cf``: the factual prompt, chosen the SCM's answer,
    rejected the other one; balanced over answer x stereotype fit."""
    return [{"prompt": j.prompt, "chosen": j.causal, "rejected": OTHER[j.causal]} for j in _balanced(judgements, n)]


def counterfactual_pairs(judgements: Sequence[Judgement], n: int) -> list[dict[str, str]]:
    """Counterfactual preference pairs: each of n // 2 balanced judgements with its factual and its
    gender-swapped prompt, the same chosen answer (the SCM's, which the swap does not change) and
    the other answer rejected. The stereotype gives the rejected answer in exactly one of the two
    prompts, and the preference is the same under the intervention: invariance is what is taught.
    Same number of pairs, so the same optimiser steps, as ``causal_pairs``."""
    out = []
    for j in _balanced(judgements, max(1, n // 2)):
        for prompt in (j.prompt, j.counterfactual_prompt):
            out.append({"prompt": prompt, "chosen": j.causal, "rejected": OTHER[j.causal]})
    return out[:n]


def training_judgements(stories: Sequence[dict[str, Any]]) -> list[Judgement]:
    import pandas as pd

    from causal_llm.data.cda import gender_swap
    from causal_llm.testbed import generate_judgements

    return generate_judgements(pd.DataFrame(list(stories)), gender_swap)


def pairs_from_stories(stories: Sequence[dict[str, Any]], n: int) -> list[dict[str, str]]:
    return counterfactual_pairs(training_judgements(stories), n)


@ALIGN_METHODS.method("dpo", DpoConfig)
def dpo(ctx: Any, inputs: dict[str, Any], cfg: DpoConfig, seed: int) -> dict[str, Any]:
    """Standard DPO on the SCM's answers to the factual prompts (a LoRA adapter on the upstream model)."""
    return train_dpo(ctx, inputs, cfg, seed, causal_pairs(training_judgements(inputs["stories"]), cfg.n_pairs))


@ALIGN_METHODS.method("dpo_cf", DpoConfig)
def dpo_cf(ctx: Any, inputs: dict[str, Any], cfg: DpoConfig, seed: int) -> dict[str, Any]:
    """DPO on counterfactual preference pairs: the stereotyped answer is the rejected one."""
    return train_dpo(ctx, inputs, cfg, seed, pairs_from_stories(inputs["stories"], cfg.n_pairs))


def train_dpo(ctx: Any, inputs: dict[str, Any], cfg: DpoConfig, seed: int, pairs: list[dict[str, str]]) -> dict:
    """trl's DPOTrainer on ``pairs``; checkpoints through Ray, resumed when a checkpoint exists."""
    import torch
    from datasets import Dataset
    from trl import DPOTrainer

    from causal_llm.models.loading import load_model, load_tokenizer, save_bundle
    from causal_llm.scoring import max_positions

    base_ref = inputs["base"]
    tokenizer = load_tokenizer(base_ref)
    policy = load_model(base_ref, device=ctx.device)
    latest = ctx.latest_checkpoint()
    resume = latest / HF_CHECKPOINT if latest is not None and (latest / HF_CHECKPOINT).is_dir() else None
    resumed_from = 0
    if resume is not None:
        resumed_from = int(json.loads((resume / "trainer_state.json").read_text())["global_step"])
        ctx.log(f"resumed from the checkpoint at step {resumed_from}")
    with tempfile.TemporaryDirectory(prefix="dpo-") as tmp:
        args = cfg.to_trl(tmp, seed, policy.device.type == "cpu", min(cfg.max_length, max_positions(policy)))
        torch.manual_seed(seed)  # DPOTrainer draws the LoRA init before the Trainer seeds itself
        trainer = DPOTrainer(
            model=policy,
            args=args,
            train_dataset=Dataset.from_list(pairs),
            processing_class=tokenizer,
            peft_config=cfg.lora.to_peft(),
            callbacks=[ctx.hf_callback()],
        )
        trainer = ctx.prepare_trainer(trainer)
        started, started_at = time.perf_counter(), time.time()
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        seconds = time.perf_counter() - started
        losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
        if ctx.rank == 0:
            save_bundle(trainer.model, tokenizer, ctx.output_dir, base_ref, inputs["node"], inputs.get("base_label"))
    summary = {
        "loss_first": float(losses[0]),
        "loss_last": float(losses[-1]),
        "steps": float(trainer.state.global_step),
        "n_pairs": len(pairs),
        "losses": losses,
        "resumed_from_step": float(resumed_from),
        "loop_started_at": started_at,
        "loop_seconds": seconds,
        "bf16": float(trainer.args.bf16),
    }
    if ctx.rank == 0:
        summary |= preference_shift(base_ref, str(ctx.output_dir), pairs)
    return summary


def preference_shift(reference_ref: str, policy_ref: str, pairs: Sequence[dict[str, str]]) -> dict[str, float]:
    """How far the policy moved from the reference on the pairs, by our own scorer."""
    from causal_llm.models.loading import load_model, load_tokenizer
    from causal_llm.scoring import loglikelihoods

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
