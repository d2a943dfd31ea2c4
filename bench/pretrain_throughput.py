"""Pre-training tokens/s under Ray Train against the same loop without Ray, same machine, one run.

    .venv/bin/python bench/pretrain_throughput.py [--profile smoke] [--workers 1] [--repeats 2]

Both run the same job (the smoke profile's `pretrain/baseline`: its corpus, config, seed and
checkpoint interval) through the same function; the plain one in this process with
`run_locally`, the other as a `TorchTrainer` job on a Ray instance started first. The loop's
tokens/s is the training loop's own time (checkpoints included); the fit's wall time also counts
Ray Train's start-up, reported apart. Target: Ray at least 0.95x the plain loop.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/pretrain_throughput.json")
    args = parser.parse_args()
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    import torch

    from causal_llm.ops.ray_cluster import start_ray, stop_ray
    from causal_llm.params import load_params
    from causal_llm.testbed import generate_stories
    from causal_llm.training.config import RayScalingConfig
    from causal_llm.training.jobs import training_job
    from causal_llm.training.ray_edge import fit_on_ray, run_locally

    params = load_params(ROOT / "params.yaml", args.profile)
    variant = params.variant("pretrain/baseline")
    cpus = os.cpu_count() or 2
    scaling = RayScalingConfig(num_workers=args.workers, cpus_per_worker=max(1, cpus // args.workers))
    data = params.data
    stories = generate_stories(data.spurious_strength, data.n_stories, params.seed)
    texts = list(stories["text"].iloc[int(len(stories) * data.heldout_fraction) :])
    torch.set_num_threads(scaling.cpus_per_worker)  # the plain loop gets what one Ray worker gets
    start_ray(cpus)  # the lifecycle's shared instance, started the way a run starts it
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            seed_variant = replace(variant, name=f"baseline{i}")
            job = training_job(seed_variant, seed_variant.id, params.seed, {"texts": texts}, [], ())
            plain = run_locally(job, Path(tmp) / f"plain{i}", Path(tmp) / f"plain-ckpt{i}", quiet=True)
            start = time.perf_counter()
            on_ray = fit_on_ray(job, scaling, Path(tmp) / f"ray{i}", str(Path(tmp) / "store"))
            ray_wall = time.perf_counter() - start
            rows.append(
                {
                    "plain_tokens_per_s": plain["tokens_per_s"],
                    "ray_tokens_per_s": on_ray["tokens_per_s"],
                    "plain_loop_s": plain["loop_seconds"],
                    "ray_loop_s": on_ray["loop_seconds"],
                    "ray_fit_wall_s": ray_wall,
                    "ray_outside_loop_s": ray_wall - on_ray["loop_seconds"],
                    "same_losses": plain["losses"] == on_ray["losses"],
                }
            )
    ratio = statistics.median(r["ray_tokens_per_s"] / r["plain_tokens_per_s"] for r in rows)
    summary = {
        "profile": args.profile,
        "cpus": cpus,
        "workers": args.workers,
        "cpus_per_worker": scaling.cpus_per_worker,
        "checkpoint_every": variant.config.training.checkpoint_every,
        "steps": int(on_ray["steps"]),
        "runs": rows,
        "median_ray_over_plain": ratio,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{variant.id} ({args.profile}): {int(on_ray['steps'])} steps, {len(texts)} stories, {cpus} CPUs")
    print(
        f"{'run':<5} {'plain tok/s':>12} {'Ray tok/s':>10} {'ratio':>6} {'Ray fit wall s':>15} {'outside loop s':>15}"
    )
    for i, r in enumerate(rows):
        print(
            f"{i:<5} {r['plain_tokens_per_s']:>12.0f} {r['ray_tokens_per_s']:>10.0f} "
            f"{r['ray_tokens_per_s'] / r['plain_tokens_per_s']:>6.2f} {r['ray_fit_wall_s']:>15.1f} "
            f"{r['ray_outside_loop_s']:>15.1f}"
        )
    print(
        f"median Ray/plain tokens/s in the loop: {ratio:.2f}x (target >= 0.95x); identical losses: "
        f"{all(r['same_losses'] for r in rows)}"
    )
    stop_ray()


if __name__ == "__main__":
    main()
