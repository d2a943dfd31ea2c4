"""The corpus as it is: the baseline every data method is compared with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from causal_llm.data import DATA_METHODS


@dataclass(frozen=True)
class IdentityConfig:
    """No settings: the testbed's training stories (and ``data.corpus_file``), unchanged."""


@DATA_METHODS.method("identity", IdentityConfig)
def identity(texts: Sequence[str], cfg: IdentityConfig, seed: int) -> list[str]:
    """The corpus unchanged."""
    return list(texts)
