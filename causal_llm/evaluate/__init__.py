"""The evaluation stage: every model of the lifecycle (and the pretrained model it starts from),
scored on the testbed's bias and invariance probes, held-out perplexity and every benchmark in
``evaluate.benchmarks``, with bootstrap CIs; one node per model. ``report`` builds the table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from causal_llm.config import require


@dataclass(frozen=True)
class EvaluateConfig:
    """Bias, causal accuracy and perplexity for every model variant, with bootstrap CIs."""

    n_bootstrap: int = 1000
    confidence: float = 0.95
    batch_size: int = 16
    n_heldout: int = 200
    n_invariance: int = 64
    # Benchmarks scored for every variant: named ones (data/benchmarks/) or "FORMAT:PATH" files.
    benchmarks: list[str] = field(default_factory=lambda: ["cladder_gen", "corr2cause_gen"])
    # Items per benchmark (a seeded sample that keeps every family); SmolLM2 scores ~1k tokens/s on 2 CPUs.
    benchmark_limit: int = 120

    def bootstrap_args(self, seed: int) -> dict[str, Any]:
        """Keyword arguments for ``causal_llm.metrics.bootstrap`` and the row builders."""
        return {"n_resamples": self.n_bootstrap, "confidence": self.confidence, "seed": seed}

    def __post_init__(self) -> None:
        require(0.5 < self.confidence < 1.0, "evaluate.confidence must be in (0.5, 1)")
        require(self.n_bootstrap >= 100, "evaluate.n_bootstrap must be >= 100 for a stable percentile CI")
        require(self.benchmark_limit >= 10, "evaluate.benchmark_limit must be >= 10 items")
