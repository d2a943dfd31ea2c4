"""The data stage: the causal testbed, and the corpus variants pre-training starts from.

A data method is ``fn(texts, cfg, seed) -> texts``: it gets the testbed's training stories (plus
``data.corpus_file``) and returns the corpus a pre-training variant trains on. Register one with
``@DATA_METHODS.method(name, Config)`` in a module of this package or a plugin file.
"""

from __future__ import annotations

from dataclasses import dataclass

from causal_llm.config import require
from causal_llm.lifecycle import StageSpec
from causal_llm.registry import MethodRegistry

DATA_METHODS = MethodRegistry("data", package=__name__)


@dataclass(frozen=True)
class DataSettings:
    """The causal testbed: stories sampled from an SCM with an injected spurious association."""

    n_stories: int = 4000
    # P(pronoun matches the occupation's stereotype) in the corpus; 0.5 means no spurious association.
    spurious_strength: float = 0.9
    heldout_fraction: float = 0.1
    # Optional JSONL file of extra training stories ({"text": ...} per line), added to every corpus;
    # a DVC dependency by content, so new data there retrains what depends on it.
    corpus_file: str | None = None

    def __post_init__(self) -> None:
        require(self.n_stories >= 50, "data.n_stories must be at least 50 (the held-out split needs stories)")
        require(0.5 <= self.spurious_strength < 1.0, "data.spurious_strength must be in [0.5, 1.0)")
        require(0.0 < self.heldout_fraction < 0.5, "data.heldout_fraction must be in (0, 0.5)")


STAGE = StageSpec(
    "data",
    DATA_METHODS,
    DataSettings,
    code=("causal_llm.data.stage", "causal_llm.testbed", "causal_llm.scm"),
    description="The SCM testbed corpus and its variants (CDA, CDS, ...)",
)
