"""Smoke lifecycle wall time before and after, on the same machine in one run, and where it goes.

    .venv/bin/python bench/lifecycle_breakdown.py [--before c586ed7] [--profile smoke] [--skip-before]

"before" is the platform at commit ``--before`` (one DVC stage per stage, one process per stage,
one Ray instance per training stage), exported with ``git archive`` and measured by its own
``bench/lifecycle_breakdown.py`` (which runs its lifecycle through Prefect, then the same tasks
without Prefect, and splits the difference). "after" is this working tree: ``causal-llm run`` in a
fresh copy with ``CAUSAL_LLM_TIMELINE`` set, so every process records what it spends its time on
(``causal_llm.timing``). Compute is the time inside the methods themselves (training loops,
scoring, data and benchmark generation); an instant of the run's wall time is orchestration when
no node is computing, attributed to what was running then, in this order: Ray Train's start-up and
teardown of a fit, a node's process start-up (imports, loading), DVC, MLflow, the Ray instance's
start, and Prefect (everything else: the temporary API, flow and task bookkeeping, the CLI).
Both runs use a fresh PREFECT_HOME, so Prefect's first-start cost is in both.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ("ray-fit", "process", "dvc", "mlflow", "ray-start")
LABELS = {
    "compute": "compute (inside the methods)",
    "ray-fit": "Ray Train fit start-up and teardown",
    "process": "node process start-up (imports, loading)",
    "dvc": "DVC (status, hashing, lock, dvc.lock)",
    "mlflow": "MLflow logging",
    "ray-start": "Ray instance start",
    "prefect": "Prefect and the CLI (API start, flows, tasks)",
}


def git_env() -> dict[str, str]:
    return {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
            "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip


def commit_all(repo: Path) -> None:
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "bench"]):
        subprocess.run(cmd, cwd=repo, check=True, env=git_env(), capture_output=True)


def copy_working_tree(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.splitlines()  # fmt: skip
    for f in files:
        if (ROOT / f).is_file() and not f.startswith("dvc.lock"):
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    commit_all(dest)
    return dest


def export_commit(ref: str, dest: Path) -> Path:
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    (dest / "dvc.lock").unlink(missing_ok=True)
    commit_all(dest)
    return dest


def run_before(ref: str, folder: Path, profile: str) -> str:
    """The old tree's own benchmark, with its code first on the path. The installed `causal-llm`
    script imports ``app.cli``, which an old tree may lack: a one-line module there hands over to
    the old command line (``causal_llm.app.cli`` or, older, ``causal_llm.cli``), so DVC's stage
    commands run the old code."""
    repo = export_commit(ref, folder / "before")
    if not (repo / "app" / "cli.py").exists():
        old = "causal_llm.app.cli" if (repo / "causal_llm" / "app" / "cli.py").exists() else "causal_llm.cli"
        (repo / "app").mkdir(exist_ok=True)
        (repo / "app" / "cli.py").write_text(f"from {old} import main  # noqa: F401\n")
    env = {**os.environ, "PYTHONPATH": str(repo), "DVC_NO_ANALYTICS": "1"}
    for name in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "CAUSAL_LLM_TIMELINE", "CAUSAL_LLM_WARM_RUNNER"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, str(repo / "bench/lifecycle_breakdown.py"), "--profile", profile],
        cwd=repo, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the before run failed:\n{done.stderr[-4000:]}")
    return done.stdout


def union(intervals: list[tuple[float, float]]) -> list[list[float]]:
    out: list[list[float]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


def attribute(timeline: list[dict], start: float, end: float) -> dict[str, float]:
    """Seconds of [start, end] per category: compute wherever any node computes, else the first
    orchestration activity of ORDER running then, else Prefect."""
    by_kind = {
        kind: union([(r["start"], r["end"]) for r in timeline if r["kind"] == kind]) for kind in ("compute", *ORDER)
    }
    cuts = sorted({start, end, *(t for ivs in by_kind.values() for iv in ivs for t in iv if start <= t <= end)})
    seconds = dict.fromkeys(LABELS, 0.0)
    for a, b in zip(cuts, cuts[1:], strict=False):
        mid = (a + b) / 2
        kind = next((k for k in ("compute", *ORDER) if any(s <= mid < e for s, e in by_kind[k])), "prefect")
        seconds[kind] += b - a
    return seconds


def run_after(folder: Path, profile: str) -> dict:
    repo = copy_working_tree(folder / "after")
    timeline = repo / "timeline.jsonl"
    env = {**os.environ, "PREFECT_HOME": str(repo / ".prefect"), "CAUSAL_LLM_TIMELINE": str(timeline),
           "DVC_NO_ANALYTICS": "1"}  # fmt: skip
    for name in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "CAUSAL_LLM_WARM_RUNNER", "PREFECT_API_URL"):
        env.pop(name, None)
    start = time.time()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "causal-llm"), "run", "--profile", profile, "--no-push"],
        cwd=repo, env=env, capture_output=True, text=True,
    )  # fmt: skip
    end = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"the after run failed:\n{done.stderr[-4000:]}")
    rows = [json.loads(line) for line in timeline.read_text().splitlines()]
    seconds = attribute(rows, start, end)
    nodes = {r["node"] for r in rows if r["kind"] == "process"}
    fits = [r["end"] - r["start"] for r in rows if r["kind"] == "ray-fit"]
    return {"wall_s": end - start, "seconds": seconds, "nodes": len(nodes), "fits": len(fits), "fit_s": fits}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="c586ed7", help="the commit to compare with")
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--skip-before", action="store_true")
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/lifecycle_breakdown.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = None if args.skip_before else run_before(args.before, Path(tmp), args.profile)
        after = run_after(Path(tmp), args.profile)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps({"profile": args.profile, "before_report": before, "after": after}, indent=2) + "\n"
    )
    if before is not None:
        print(f"=== before ({args.before}), as its own bench/lifecycle_breakdown.py measures it ===\n{before}")
    wall = after["wall_s"]
    print(f"=== after (this tree): {wall:.1f} s wall for {after['nodes']} nodes, {after['fits']} Ray Train fits ===")
    for kind, label in LABELS.items():
        print(f"  {label:<50} {after['seconds'][kind]:>6.1f} s  {100 * after['seconds'][kind] / wall:>5.1f}%")
    orchestration = wall - after["seconds"]["compute"]
    print(f"  {'orchestration (no node computing)':<50} {orchestration:>6.1f} s  {100 * orchestration / wall:>5.1f}%")


if __name__ == "__main__":
    main()
