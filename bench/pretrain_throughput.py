"""Pre-training tokens/s under Ray Train against the same loop without Ray, same machine, one run.

    .venv/bin/python bench/pretrain_throughput.py [--stories 1500]

Both train the smoke-profile model on the same corpus with the same seed. Ray's wall time includes
its start-up (ray.init, TorchTrainer workers), reported separately from the loop's own tokens/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stories", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")
    import torch

    from causal_llm.config import load_params
    from causal_llm.distributed import pretrain_on_ray
    from causal_llm.pretrain import PretrainJob, pretrain_variant
    from causal_llm.testbed import generate_stories

    cfg = load_params(Path(__file__).resolve().parents[1] / "params.yaml", "smoke").pretrain
    cfg = dataclasses.replace(
        cfg, num_workers=args.workers, cpus_per_worker=max(1, (os.cpu_count() or 2) // args.workers)
    )
    texts = list(generate_stories(0.9, args.stories, 0)["text"])
    job = PretrainJob("baseline", texts)
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        plain = pretrain_variant(job, cfg, 0, Path(tmp) / "plain")
        plain_wall = time.perf_counter() - start
        start = time.perf_counter()
        summary = pretrain_on_ray([job], cfg, 0, Path(tmp) / "ray", Path(tmp) / "ray-store")["baseline"]
        ray_wall = time.perf_counter() - start
    ray_loop_s = summary["tokens"] / summary["tokens_per_s"]
    print(
        f"corpus: {args.stories} stories, {plain.tokens} training tokens; model {cfg.n_layer}x{cfg.n_embd}, "
        f"bf16={cfg.bf16}, {os.cpu_count()} CPUs"
    )
    print(f"{'':<28} {'tokens/s':>10} {'loop s':>8} {'wall s':>8} {'final loss':>10}")
    print(
        f"{'plain loop (no Ray)':<28} {plain.tokens_per_second:>10.0f} {plain.seconds:>8.1f} {plain_wall:>8.1f} "
        f"{plain.summary()['loss_last']:>10.3f}"
    )
    label = f"Ray Train ({args.workers}w x {cfg.cpus_per_worker} CPU)"
    print(
        f"{label:<28} {summary['tokens_per_s']:>10.0f} {ray_loop_s:>8.1f} {ray_wall:>8.1f} "
        f"{summary['loss_last']:>10.3f}"
    )
    print(
        f"Ray/plain loop throughput: {summary['tokens_per_s'] / plain.tokens_per_second:.2f}x; "
        f"Ray start-up and teardown: {ray_wall - ray_loop_s:.1f} s"
    )


if __name__ == "__main__":
    main()
