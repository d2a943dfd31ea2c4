"""LoRA settings (peft), shared by every method that trains an adapter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from causal_llm.config import require


@dataclass(frozen=True)
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    # None: peft's default modules per architecture (c_attn for GPT-2, q/v_proj for Llama).
    target_modules: list[str] | None = None

    def __post_init__(self) -> None:
        require(self.r >= 1 and self.alpha >= 1, "lora.r and lora.alpha must be >= 1")
        require(0 <= self.dropout < 1, "lora.dropout must be in [0, 1)")

    def to_peft(self) -> Any:
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            task_type="CAUSAL_LM",
        )
