"""Ray Train fit start-up: one shared Ray instance for the run against one instance per process.

    .venv/bin/python bench/ray_startup.py [--fits 3]

Each fit is what a training node does: a fresh process (as DVC starts `causal-llm stage`) that
trains a small pre-training job on Ray Train. "own instance" starts Ray inside that process (no
RAY_ADDRESS, as a stage run by hand does); "shared" joins the instance the lifecycle run started
once. Measured per fit: from the process's start to the fit call (imports, data), from the fit call
to the first training step (Ray's instance and Train's controller and worker start-up), the loop,
and the process's whole life.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
from pathlib import Path
from causal_llm.timing import process_started_at
started = process_started_at()
from causal_llm.models.tiny import TinyGPT2Config
from causal_llm.params import Variant
from causal_llm.pretrain.scratch import ScratchConfig
from causal_llm.testbed import generate_stories
from causal_llm.training.config import RayScalingConfig, TrainingConfig
from causal_llm.training.jobs import training_job
from causal_llm.training.ray_edge import fit_on_ray
out = Path(sys.argv[1])
training = TrainingConfig(epochs=1, batch_size=8, lr=0.01, checkpoint_every=0)
cfg = ScratchConfig(TinyGPT2Config(512, 2, 4, 64, 64), training)
variant = Variant("pretrain", out.name, "scratch", ("data/original",), None, cfg)
job = training_job(variant, variant.id, 0, {"texts": list(generate_stories(0.9, 300, 0)["text"])}, [], ())
called = time.time()
summary = fit_on_ray(job, RayScalingConfig(num_workers=1, cpus_per_worker=1), out / "model", str(out / "store"))
print(json.dumps({"started": started, "called": called, "loop_start": summary["loop_started_at"],
                  "loop_s": summary["loop_seconds"], "returned": time.time()}))
"""


def one_fit(folder: Path, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    t = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "process_to_fit_s": t["called"] - t["started"],
        "fit_to_first_step_s": t["loop_start"] - t["called"],
        "loop_s": t["loop_s"],
        "after_loop_s": t["returned"] - t["loop_start"] - t["loop_s"],
        "process_s": t["returned"] - t["started"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fits", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/ray_startup.json")
    args = parser.parse_args()
    env = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5", **os.environ, "RAY_TRAIN_ENABLE_PRINT_PATCH": "0"}
    env.pop("RAY_ADDRESS", None)
    os.environ.update(env)
    from causal_llm.ops.ray_cluster import start_ray, stop_ray

    results: dict[str, list[dict[str, float]]] = {"own instance": [], "shared": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.fits):
            results["own instance"].append(one_fit(Path(tmp) / f"own{i}", env))
        address = start_ray()
        try:
            for i in range(args.fits):
                # os.environ as the run leaves it for its nodes: the address and Ray's auth mode.
                results["shared"].append(one_fit(Path(tmp) / f"shared{i}", {**os.environ, "RAY_ADDRESS": address}))
        finally:
            stop_ray()
    medians = {mode: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for mode, rows in results.items()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"cpus": os.cpu_count(), "runs": results, "median": medians}, indent=2) + "\n")
    print(f"Ray Train fit start-up, median of {args.fits} fits each ({os.cpu_count()} CPUs), seconds")
    keys = list(medians["shared"])
    print(f"{'':<14}" + "".join(f"{k:>20}" for k in keys))
    for mode, m in medians.items():
        print(f"{mode:<14}" + "".join(f"{m[k]:>20.1f}" for k in keys))
    saved = medians["own instance"]["fit_to_first_step_s"] - medians["shared"]["fit_to_first_step_s"]
    print(f"the shared instance saves {saved:.1f} s of start-up per fit")


if __name__ == "__main__":
    main()
