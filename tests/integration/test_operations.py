"""Operations on real servers: `causal-llm serve` (a real Prefect server and the deployments), a real
MLflow server (`causal-llm mlflow-server`) and a real two-node Ray cluster (`ray start --head` plus a
worker node), in a fresh clone.

A smoke lifecycle is triggered through the Prefect API as the UI does, with pre-training spread over
both Ray nodes; then the same run again (DVC skips every stage). The tests check what a user checks:
the flow run completed, its MLflow run is found by the Prefect flow-run id, the stage models are in
the registry with `candidate` and `champion` aliases, and `causal-llm compare` compares the two runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.workspace import fresh_clone

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
# Two workers per training job, one per Ray node; a smaller corpus and one epoch keep the test short.
TWO_WORKERS = {"num_workers": 2, "cpus_per_worker": 1}
TWO_NODE_TRAINING = {
    "pretrain": {"ray": TWO_WORKERS, "defaults": {"training": {"epochs": 1}}},
    "finetune": {"ray": TWO_WORKERS},
    "align": {"ray": TWO_WORKERS},
    "data": {"n_stories": 600},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: process exited {proc.returncode}\n{log.read_text()[-4000:] if log else ''}")
        found = check()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout} s\n{log.read_text()[-4000:] if log else ''}")


def _ray(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "ray"), *args], check=True, capture_output=True, text=True, env=env, timeout=120)


def _stop_ray_cluster(ray_dir: str) -> None:
    """Stop the processes of the cluster started with ``--temp-dir ray_dir``: those naming the folder
    (GCS, raylets, monitors) and their children (workers and agents rename themselves)."""
    import psutil

    own = [p for p in psutil.process_iter(["cmdline"]) if any(ray_dir in arg for arg in p.info["cmdline"] or [])]
    procs = {p.pid: p for p in own}
    for proc in own:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.update({child.pid: child for child in proc.children(recursive=True)})
    for proc in procs.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    for proc in psutil.wait_procs(list(procs.values()), timeout=20)[1]:
        proc.kill()
    shutil.rmtree(ray_dir, ignore_errors=True)


def _deployment_ready(name: str):
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            return client.read_deployment_by_name(name)
    except Exception:  # not registered yet, or the API is still starting
        return None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    repo = fresh_clone(tmp_path_factory.mktemp("ops"))
    logs = repo / ".causal_llm" / "logs"
    logs.mkdir(parents=True)
    token = repo / ".ray-token"
    token.write_text(os.urandom(32).hex())
    ray_port, mlflow_port, prefect_port = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PREFECT_HOME": str(repo / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DVC_NO_ANALYTICS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "RAY_AUTH_MODE": "token",  # Ray's default; every node and driver reads the same token file
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_ADDRESS": f"127.0.0.1:{ray_port}",
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
    }
    env.pop("PREFECT_API_URL", None)
    procs: list[subprocess.Popen] = []
    # Its own temporary folder marks this cluster's processes, so teardown stops them and nothing else
    # (`ray stop` would stop every Ray instance on the machine, a user's lifecycle run's included).
    ray_dir = tempfile.mkdtemp(prefix="ray-ops-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats", "--temp-dir", ray_dir]
    try:
        _ray("start", "--head", "--port", str(ray_port), "--include-dashboard=false", *common, env=env)
        _ray("start", "--address", f"127.0.0.1:{ray_port}", *common, env=env)
        mlflow_log = logs / "mlflow.log"
        procs.append(
            subprocess.Popen(
                [str(BIN / "causal-llm"), "mlflow-server", "--port", str(mlflow_port)],
                cwd=repo,
                env=env,
                stdout=mlflow_log.open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        from app.servers import is_healthy

        _wait(lambda: is_healthy(f"http://127.0.0.1:{mlflow_port}/health"), 120, "mlflow server", procs[0], mlflow_log)
        serve_log = logs / "serve.log"
        procs.append(
            subprocess.Popen(
                [str(BIN / "causal-llm"), "serve", "--port", str(prefect_port), "--no-mlflow"],
                cwd=repo,
                env=env,
                stdout=serve_log.open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{prefect_port}/api"}):
            _wait(lambda: _deployment_ready("lifecycle/lifecycle"), 240, "deployments", procs[1], serve_log)
            yield {"repo": repo, "env": env, "serve_log": serve_log, "mlflow": env["MLFLOW_TRACKING_URI"]}
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGINT)  # `serve` stops the Prefect server it started
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        _stop_ray_cluster(ray_dir)
        from app.servers import port_in_use

        # A `serve` that had to be killed still takes its server down (it gets SIGTERM when serve dies).
        deadline = time.monotonic() + 30
        while port_in_use("127.0.0.1", prefect_port) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not port_in_use("127.0.0.1", prefect_port), "`serve` left its Prefect server running"


@pytest.fixture(scope="module")
def two_runs(served):
    from prefect.deployments import run_deployment

    runs = []
    for _ in range(2):  # the second finds every stage up to date
        flow_run = run_deployment(
            "lifecycle/lifecycle", parameters={"profile": "smoke", "overrides": TWO_NODE_TRAINING}, timeout=900
        )
        assert flow_run.state.is_completed(), (flow_run.state, served["serve_log"].read_text()[-6000:])
        runs.append(flow_run)
    return runs


def _client(served):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=served["mlflow"], registry_uri=served["mlflow"])


def _lifecycle_run(served, flow_run):
    (run,) = _client(served).search_runs(
        [_client(served).get_experiment_by_name("causal-llm").experiment_id],
        f"tags.`prefect.flow_run_id` = '{flow_run.id}' and tags.`causal_llm.run_type` = 'lifecycle'",
    )
    return run


def test_a_run_triggered_through_the_api_completes_and_is_in_mlflow(served, two_runs):
    run = _lifecycle_run(served, two_runs[0])
    assert run.info.status == "FINISHED" and run.data.tags["profile"] == "smoke"
    assert run.data.params["pretrain.ray.num_workers"] == "2"  # the form's overrides reached params.yaml
    artifacts = {a.path for a in _client(served).list_artifacts(run.info.run_id, "results")}
    assert "results/results.json" in artifacts


@pytest.mark.parametrize("variant", ["pretrain/baseline", "finetune/sft", "align/dpo_cf"])
def test_training_was_spread_over_both_ray_nodes(served, two_runs, variant):
    client = _client(served)
    parent = _lifecycle_run(served, two_runs[0]).info.run_id
    (run,) = client.search_runs(
        [client.get_experiment_by_name("causal-llm").experiment_id],
        f"tags.`mlflow.parentRunId` = '{parent}' and tags.variant = '{variant}'",
    )
    assert run.data.metrics["world_size"] == 2
    assert run.data.metrics["n_nodes"] == 2


def test_stage_models_are_registered_with_candidate_and_champion(served, two_runs):
    client = _client(served)
    names = {m.name for m in client.search_registered_models()}
    expected = {
        f"causal-llm-smoke-{v}" for v in ("pretrain-baseline", "pretrain-cda", "finetune-sft", "finetune-cf_sft")
    }
    assert expected | {"causal-llm-smoke-align-dpo_cf"} <= names
    for name in expected:
        candidate = client.get_model_version_by_alias(name, "candidate")
        champion = client.get_model_version_by_alias(name, "champion")
        assert candidate.version == champion.version == "1"  # the second run's models are identical
        assert candidate.tags["gate.passed"] == "true" and "metric.bias_gap" in candidate.tags
        files = {a.path for a in client.list_artifacts(candidate.run_id, "model")}
        assert files & {"model/model.safetensors", "model/adapters", "model/causal_llm_model.json"}, files


def test_the_second_run_is_compared_with_the_first(served, two_runs):
    client = _client(served)
    first, second = (_lifecycle_run(served, r).info.run_id for r in two_runs)
    experiment = client.get_experiment_by_name("causal-llm").experiment_id
    compares = client.search_runs([experiment], "tags.`causal_llm.run_type` = 'compare'")
    assert any(r.data.tags.get("compared_runs") == f"{first},{second}" for r in compares)
    out = subprocess.run(
        [str(BIN / "causal-llm"), "compare", "--runs", first, second, "--output", "reports/cmp"],
        cwd=served["repo"],
        env=served["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "pretrain/cda" in out.stdout and "bias_gap" in out.stdout
    assert "WARNING" not in out.stdout  # same scorers, same data
    assert (served["repo"] / "reports/cmp/comparison.csv").stat().st_size > 100
