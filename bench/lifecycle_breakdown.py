"""Smoke lifecycle wall time per stage, and the share spent in Prefect, MLflow, Ray and DVC.

Two fresh copies of the repository run the same smoke lifecycle:
  A. through Prefect (`flows.lifecycle`), as a user runs it;
  B. the same task functions called in the same order without Prefect, each timed.
Prefect's share is A - B. In B, each stage's `dvc repro` wall time splits into DVC's own work
(wall - the stage process's lifetime), process start-up and imports (lifetime - compute) and the
stage's compute; Ray's share is the pretrain compute minus the training loops' own time; MLflow's
is the time of the logging calls.

    .venv/bin/python bench/lifecycle_breakdown.py [--profile smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fresh_repo(parent: Path, name: str) -> Path:
    repo = parent / name
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for f in files:
        if (ROOT / f).is_file() and not f.startswith("dvc.lock"):
            (repo / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, repo / f)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@b",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@b",
    }
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "bench"]):
        subprocess.run(cmd, cwd=repo, check=True, env=env)
    return repo


def run_prefect(repo: Path, profile: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "causal_llm.cli", "run", "--profile", profile],
        cwd=repo,
        check=True,
        capture_output=True,
        env={**os.environ, "PREFECT_HOME": str(repo / ".prefect")},
    )
    return time.perf_counter() - start


def run_plain(repo: Path, profile: str) -> dict:
    """The lifecycle's task functions, in order, without Prefect; run in ``repo``."""
    code = f"""
import json, re, subprocess, time, os
from causal_llm.pipeline import LIFECYCLE, activate_params, dvc_env, dvc_push, log_stage
from causal_llm.tracking import MlflowTracker, default_tracking_uri
t = {{}}
s = time.perf_counter(); params = activate_params("params.yaml", "{profile}"); t["params"] = time.perf_counter() - s
s = time.perf_counter(); tracker = MlflowTracker(default_tracking_uri(), "bench")
parent = tracker.start_run("lifecycle"); t["mlflow"] = time.perf_counter() - s
stages = {{}}
for stage in LIFECYCLE:
    s = time.perf_counter()
    out = subprocess.run(["dvc", "repro", "--single-item", stage], capture_output=True, text=True, env=dvc_env(),
                         check=True).stdout
    wall = time.perf_counter() - s
    m = re.search(r"stage \\w+: ([0-9.]+) s compute, ([0-9.]+) s in process", out)
    stages[stage] = {{"wall": wall, "compute": float(m[1]), "process": float(m[2])}}
    s = time.perf_counter()
    log_stage(tracker, parent, stage, params, True, {{}})
    t["mlflow"] += time.perf_counter() - s
s = time.perf_counter(); dvc_push(); t["dvc_push"] = time.perf_counter() - s
tracker.end_run(parent)
pre = json.load(open("reports/pretrain/metrics.json"))["variants"]
t["pretrain_training_loops"] = sum(v["tokens"] / v["tokens_per_s"] for v in pre.values())
print(json.dumps({{"stages": stages, **t}}))
"""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["total"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="smoke")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        prefect_total = run_prefect(fresh_repo(Path(tmp), "a"), args.profile)
        plain = run_plain(fresh_repo(Path(tmp), "b"), args.profile)
    stages = plain["stages"]
    dvc = sum(s["wall"] - s["process"] for s in stages.values()) + plain["dvc_push"]
    startup = sum(s["process"] - s["compute"] for s in stages.values())
    compute = sum(s["compute"] for s in stages.values())
    ray = stages["pretrain"]["compute"] - plain["pretrain_training_loops"]
    prefect = prefect_total - plain["total"]
    print(f"smoke lifecycle ({args.profile}) on {os.cpu_count()} CPUs\n")
    print(f"{'stage':<10} {'wall s':>7} {'DVC s':>6} {'start-up s':>10} {'compute s':>9}")
    for name, s in stages.items():
        print(
            f"{name:<10} {s['wall']:>7.1f} {s['wall'] - s['process']:>6.1f} {s['process'] - s['compute']:>10.1f}"
            f" {s['compute']:>9.1f}"
        )
    print(f"\nthrough Prefect: {prefect_total:.1f} s; same tasks without Prefect: {plain['total']:.1f} s")
    share = {
        "Prefect (A - B)": prefect,
        "MLflow logging": plain["mlflow"],
        "DVC (repro bookkeeping + push)": dvc,
        "Ray (pretrain compute - training loops)": ray,
        "stage process start-up (before the stage function)": startup,
        "compute without Ray's share": compute - ray,
    }
    for name, seconds in share.items():
        print(f"  {name:<42} {seconds:>6.1f} s  {100 * seconds / prefect_total:>5.1f}%")


if __name__ == "__main__":
    main()
