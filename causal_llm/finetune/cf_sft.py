"""Counterfactual SFT: LoRA SFT on the same examples plus their gender-swapped copies (two-sided
CDA of the responses), so the instruction data carries no gender-occupation association
(docs/methods.md#counterfactual-sft)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from causal_llm.finetune import FINETUNE_METHODS
from causal_llm.finetune.sft import SftConfig, counterfactual_examples, stories_examples, train_lora


@dataclass(frozen=True)
class CfSftConfig(SftConfig):
    """SFT's settings; ``n_examples`` originals are drawn, then each is added again gender-swapped."""


@FINETUNE_METHODS.method("cf_sft", CfSftConfig)
def cf_sft(ctx: Any, inputs: dict[str, Any], cfg: CfSftConfig, seed: int) -> dict:
    """LoRA SFT on instruction examples and their counterfactual (gender-swapped) copies."""
    from causal_llm.data.cda import gender_swap

    examples = counterfactual_examples(stories_examples(inputs, cfg, seed), gender_swap)
    return train_lora(ctx, inputs, examples, cfg, seed)
