"""LoRA SFT (peft) on instruction-style examples from the testbed, with a plain training loop.

The causal variant (counterfactual SFT) trains on the same examples plus their two-sided CDA
copies, so the instruction data carries no gender-occupation association.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig, get_peft_model

from causal_llm.config import FinetuneConfig
from causal_llm.models import load_model, load_tokenizer, read_chain, save_adapter
from causal_llm.scoring import max_positions
from causal_llm.train import LoopConfig, TrainResult, sft_batches, train_causal_lm

Example = tuple[str, str]


def instruction_examples(texts: Sequence[str], occupations: Sequence[str], n: int, seed: int) -> list[Example]:
    """(prompt, response) pairs: "tell me a story about a <occupation>" -> a testbed story."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(texts), size=min(n, len(texts)), replace=False)
    return [(f"Instruction: Tell me a short story about a {occupations[i]}.\nResponse:", " " + texts[i]) for i in idx]


def counterfactual_examples(examples: Sequence[Example], swap: Callable[[str], str]) -> list[Example]:
    """Two-sided CDA of the responses: every example plus its gender-swapped copy."""
    return [*examples, *((prompt, swap(response)) for prompt, response in examples)]


def chain_of(ref: str) -> tuple[str, list[str]]:
    """(base, adapters) that rebuild the model ``ref`` names."""
    return read_chain(ref) or (ref, [])


def lora_config(r: int, alpha: int, dropout: float) -> LoraConfig:
    # target_modules=None: peft's default per architecture (c_attn for GPT-2, q/v_proj for Llama).
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, task_type="CAUSAL_LM")


def finetune_lora(
    base_ref: str,
    examples: Sequence[Example],
    cfg: FinetuneConfig,
    seed: int,
    out_dir: str | Path,
    report: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    tokenizer = load_tokenizer(base_ref)
    base = load_model(base_ref)
    torch.manual_seed(seed)  # LoRA's A matrices are drawn from the global RNG: seed them, not whatever ran before
    model = get_peft_model(base, lora_config(cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout))
    max_length = min(cfg.max_length, max_positions(model))  # never past the model's context window
    batches = sft_batches(examples, tokenizer, cfg.batch_size, max_length, seed)
    steps = -(-len(examples) // cfg.batch_size)
    loop = LoopConfig(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        warmup_steps=min(10, steps),
        bf16=cfg.bf16,
        report_every=max(1, steps * cfg.epochs // 5),  # five progress lines per run
        seed=seed,
    )
    result = train_causal_lm(model, batches, steps, loop, report)
    base, adapters = chain_of(base_ref)
    save_adapter(model, tokenizer, out_dir, base, adapters)
    return result
