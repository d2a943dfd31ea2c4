"""The benchmarks node: every generated benchmark written into ``data/benchmarks/``."""

from __future__ import annotations

import time

from causal_llm.dag import BENCHMARKS, Lifecycle, Node
from causal_llm.timing import timed


def run(node: Node, lc: Lifecycle) -> None:
    from causal_llm.benchmarks.generate import write_generated

    cfg = lc.params.benchmarks
    with timed("compute", node.id):
        manifest = write_generated(
            BENCHMARKS, lc.params.seed, cfg.cladder_models_per_family, cfg.corr2cause_graphs, cfg.corr2cause_variables
        )
    counts = ", ".join(f"{n} {name}" for name, n in manifest["items"].items())
    print(f"[{time.strftime('%H:%M:%S')}] benchmarks: {counts} items in {BENCHMARKS}", flush=True)
