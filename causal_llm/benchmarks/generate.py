"""Write every generated benchmark into one folder (what the ``benchmarks`` stage versions with DVC)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causal_llm.benchmarks import cladder_gen, corr2cause_gen
from causal_llm.benchmarks.base import file_hash
from causal_llm.benchmarks.testbed import probe_rows
from causal_llm.config import require
from causal_llm.corpus import write_json, write_jsonl
from causal_llm.testbed import bias_probes


@dataclass(frozen=True)
class BenchmarksConfig:
    """Causal benchmarks generated with exact answers (data/benchmarks/), seeded by the top-level seed."""

    cladder_models_per_family: int = 2  # Bayesian networks per graph family and story variant
    corr2cause_graphs: int = 60
    corr2cause_variables: list[int] = field(default_factory=lambda: [3, 4, 5])

    def __post_init__(self) -> None:
        require(self.cladder_models_per_family >= 1, "benchmarks.cladder_models_per_family must be >= 1")
        require(self.corr2cause_graphs >= 1, "benchmarks.corr2cause_graphs must be >= 1")
        require(
            bool(self.corr2cause_variables) and all(3 <= n <= 5 for n in self.corr2cause_variables),
            "benchmarks.corr2cause_variables must list sizes between 3 and 5 (all DAGs are enumerated)",
        )


def generator_configs(
    seed: int, cladder_models_per_family: int, corr2cause_graphs: int, corr2cause_variables: Sequence[int]
) -> tuple[cladder_gen.CLadderGenConfig, corr2cause_gen.Corr2CauseGenConfig]:
    """Both generators' configs; building them validates the settings before anything runs."""
    return (
        cladder_gen.CLadderGenConfig(n_models_per_family=cladder_models_per_family, seed=seed),
        corr2cause_gen.Corr2CauseGenConfig(
            n_variables=tuple(corr2cause_variables), n_graphs=corr2cause_graphs, seed=seed
        ),
    )


def write_generated(
    out_dir: Path,
    seed: int,
    cladder_models_per_family: int = 2,
    corr2cause_graphs: int = 60,
    corr2cause_variables: Sequence[int] = (3, 4, 5),
) -> dict[str, Any]:
    """cladder_gen.json (+ its meta-models file), corr2cause_gen.csv, testbed_probes.jsonl and a
    manifest with generator versions, item counts and file hashes; returns the manifest."""
    cladder_cfg, corr_cfg = generator_configs(seed, cladder_models_per_family, corr2cause_graphs, corr2cause_variables)
    questions, models = cladder_gen.generate_cladder(cladder_cfg)
    cladder_gen.write_cladder(questions, models, out_dir, "cladder_gen")
    corr_rows = corr2cause_gen.generate(corr_cfg)
    corr2cause_gen.write_corr2cause(corr_rows, out_dir / "corr2cause_gen.csv")
    write_jsonl(out_dir / "testbed_probes.jsonl", probe_rows(bias_probes()))
    files = sorted(p for p in out_dir.iterdir() if p.suffix in (".json", ".jsonl", ".csv") and p.stem != "manifest")
    manifest = {
        "seed": seed,
        "generators": {
            "cladder_gen": cladder_gen.GENERATOR_VERSION,
            "corr2cause_gen": corr2cause_gen.GENERATOR_VERSION,
        },
        "items": {
            "cladder_gen": len(questions),
            "corr2cause_gen": len(corr_rows),
            "testbed_probes": len(bias_probes()),
        },
        "sha256": {p.name: file_hash(p) for p in files},
    }
    write_json(out_dir / "manifest.json", manifest)
    return manifest
