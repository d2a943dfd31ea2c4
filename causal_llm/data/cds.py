"""Counterfactual data substitution (Hall Maudslay et al. 2019; docs/methods.md#cds): each document
is replaced by its gender-swapped copy with probability ``probability`` instead of duplicated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from causal_llm.config import require
from causal_llm.data import DATA_METHODS
from causal_llm.data.cda import gender_swap


@dataclass(frozen=True)
class CdsConfig:
    probability: float = 0.5

    def __post_init__(self) -> None:
        require(0 < self.probability <= 1, "probability must be in (0, 1]")


@DATA_METHODS.method("cds", CdsConfig)
def cds(texts: Sequence[str], cfg: CdsConfig, seed: int) -> list[str]:
    """CDS: each document replaced by its swapped copy with probability ``cfg.probability``."""
    flips = np.random.default_rng(seed).random(len(texts)) < cfg.probability
    return [gender_swap(t) if flip else t for t, flip in zip(texts, flips, strict=True)]
