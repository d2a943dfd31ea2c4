"""SFT on the SCM's answers: the control that separates the counterfactual part of ``dpo_cf``.

LoRA SFT on the factual judgement prompts with the causal answer as the response, balanced between
" yes" and " no" and without any gender-swapped copy. Against it, a counterfactual method's gain in
invariance is measured on its own, not mixed with simply learning the SCM's answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from causal_llm.align import ALIGN_METHODS
from causal_llm.finetune.sft import SftConfig


@dataclass(frozen=True)
class SftCausalConfig(SftConfig):
    """SFT's settings; ``n_examples`` balanced judgements from the training stories."""

    n_examples: int = 64


def causal_answer_examples(stories: list[dict[str, Any]], n: int) -> list[tuple[str, str]]:
    from causal_llm.align.dpo import causal_pairs, training_judgements

    return [(p["prompt"], p["chosen"]) for p in causal_pairs(training_judgements(stories), n)]


@ALIGN_METHODS.method("sft_causal", SftCausalConfig)
def sft_causal(ctx: Any, inputs: dict[str, Any], cfg: SftCausalConfig, seed: int) -> dict:
    """LoRA SFT on (factual judgement prompt, the SCM's answer), balanced yes/no."""
    from causal_llm.finetune.sft import train_lora

    return train_lora(ctx, inputs, causal_answer_examples(inputs["stories"], cfg.n_examples), cfg, seed)
