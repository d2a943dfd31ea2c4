"""The smoke lifecycle end to end on real components: Prefect (test harness), one local Ray instance,
an MLflow SQLite store and a DVC repository inside a temporary git repository.

The run uses a temporary params file that adds a method defined in this test (``BALANCE``, written
to the clone as a plugin) and a data variant for it, so the run also shows that adding a method is
one module and one params entry. One lifecycle run is shared by the module's tests (about two
minutes); each test then checks one promise of the platform against what that run left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.workspace import fresh_clone

# A small method of our own, registered where it is defined: subsample the stories whose pronoun
# fits the occupation's stereotype until they are half of the corpus (debiasing by resampling).
BALANCE = '''
from dataclasses import dataclass

import numpy as np

from causal_llm.data import DATA_METHODS
from causal_llm.data.stage import stereotype_share


@dataclass(frozen=True)
class BalanceConfig:
    target: float = 0.5


@DATA_METHODS.method("balance", BalanceConfig)
def balance(texts, cfg, seed):
    """Drop stereotype-fitting stories at random until they are `target` of the corpus."""
    fits = stereotype_share(list(texts)) == 1.0
    n_other = int((~fits).sum())
    keep_fitting = int(cfg.target / (1 - cfg.target) * n_other)
    chosen = set(np.random.default_rng(seed).choice(np.flatnonzero(fits), keep_fitting, replace=False))
    return [t for i, t in enumerate(texts) if not fits[i] or i in chosen]
'''
VARIANTS = {"data": {"n_stories": 1500}}
MODELS = {"pretrain/baseline", "pretrain/cda", "finetune/sft", "finetune/cf_sft", "align/dpo", "align/dpo_cf"}


def _cli(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1", **(env or {})},
    )


def _dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(["dvc", "--wait-for-lock", *args], cwd=repo, capture_output=True, text=True, env=env)


def _with_plugin(repo: Path) -> str:
    """A temporary params file: the repository's, plus the plugin and a variant that uses it."""
    (repo / "plugins").mkdir()
    (repo / "plugins" / "balance.py").write_text(BALANCE)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["plugins"] = ["plugins/balance.py"]
    params["data"]["variants"]["balanced"] = {"method": "balance", "baseline": "original"}
    (repo / "params_plugin.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return "params_plugin.yaml"


@pytest.fixture(scope="module")
def lifecycle_run(tmp_path_factory: pytest.TempPathFactory):
    from prefect.testing.utilities import prefect_test_harness

    repo = fresh_clone(tmp_path_factory.mktemp("repo"))
    old_cwd = Path.cwd()
    os.chdir(repo)
    env_before = dict(os.environ)
    os.environ.update(
        {
            "PREFECT_HOME": str(repo / ".prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DVC_NO_ANALYTICS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5",
            "RAY_TRAIN_ENABLE_PRINT_PATCH": "0",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "CAUSAL_LLM_TIMELINE": str(repo / "timeline.jsonl"),
        }
    )
    for name in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS", "CAUSAL_LLM_WARM_RUNNER"):
        os.environ.pop(name, None)
    from causal_llm.align import ALIGN_METHODS
    from causal_llm.data import DATA_METHODS
    from causal_llm.finetune import FINETUNE_METHODS
    from causal_llm.infer import INFER_METHODS
    from causal_llm.pretrain import PRETRAIN_METHODS

    registries = (DATA_METHODS, PRETRAIN_METHODS, FINETUNE_METHODS, ALIGN_METHODS, INFER_METHODS)
    for registry in registries:
        registry.discover()  # the package's own methods, before the plugin adds one
    known = [(r, dict(r._items)) for r in registries]
    modules_before = set(sys.modules)
    try:
        with prefect_test_harness(server_startup_timeout=120):
            from flows.lifecycle import lifecycle

            params_file = _with_plugin(repo)
            first = asyncio.run(lifecycle(profile="smoke", params_file=params_file, return_state=True))
            first_rows = (repo / "reports/lifecycle/results.json").read_text()
            models = {m: (repo / "models" / m).exists() for m in MODELS}
            weights = (repo / "models/pretrain/baseline/model.safetensors").read_bytes()
            pretrain_metrics = json.loads((repo / "reports/pretrain/baseline/metrics.json").read_text())
            second = asyncio.run(lifecycle(profile="smoke", params_file=params_file, return_state=True))
            tasks = _task_run_names([first, second])
            yield {
                "repo": repo,
                "first": first,
                "second": second,
                "tasks": tasks,
                "first_rows": first_rows,
                "models": models,
                "weights": weights,
                "pretrain_metrics": pretrain_metrics,
                "params_file": params_file,
            }
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(env_before)
        # The plugin's method leaves the registries with its module, so later tests see only the package's.
        for registry, items in known:
            registry._items = items
        for name in set(sys.modules) - modules_before:
            if name.startswith("causal_llm_plugin_"):
                del sys.modules[name]


def _task_run_names(states) -> dict[str, list[str]]:
    """Per lifecycle flow run: the names of the task runs of its subflow runs (the per-node tasks)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId, TaskRunFilter

    out = {}
    with get_client(sync_client=True) as client:
        for state in states:
            run_id = state.state_details.flow_run_id
            deadline = time.monotonic() + 30  # the server records task runs asynchronously
            while True:
                parent_tasks = client.read_task_runs(task_run_filter=TaskRunFilter(flow_run_id={"any_": [run_id]}))
                subflows = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run_id]))
                )
                ids = [f.id for f in subflows]
                tasks = client.read_task_runs(task_run_filter=TaskRunFilter(flow_run_id={"any_": ids})) if ids else []
                names = sorted({t.name for t in tasks} | {t.name for t in parent_tasks})
                if (
                    len(subflows) >= 8
                    and all(t.state and t.state.is_final() for t in tasks)
                    or time.monotonic() > deadline
                ):
                    break
                time.sleep(1)
            out[str(run_id)] = names
    return out


def _rows(repo: Path) -> dict[tuple[str, str], dict]:
    rows = json.loads((repo / "reports/lifecycle/results.json").read_text())
    keys = {"variant", "stage", "metric", "value", "ci_low", "ci_high", "n", "interval", "baseline", "p_value"}
    assert rows and set(rows[0]) == keys
    return {(r["variant"], r["metric"]): r for r in rows}


def test_both_runs_completed_and_the_second_skipped_every_node(lifecycle_run):
    assert lifecycle_run["first"].is_completed() and lifecycle_run["second"].is_completed()
    assert all(lifecycle_run["models"].values()), lifecycle_run["models"]


def test_cda_balances_the_pronouns_and_its_difference_is_paired(lifecycle_run):
    rows = _rows(lifecycle_run["repo"])
    base, cda = rows[("pretrain/baseline", "bias_gap")], rows[("pretrain/cda", "bias_gap")]
    # On held-out template x occupation openings the smoke model's gap is not clear of 0 (it learns the
    # corpus's n-grams, measured at 1.8 on training prefixes before probes were held out); CDA's is ~0.
    assert base["ci_high"] - base["ci_low"] > cda["ci_high"] - cda["ci_low"], (base, cda)
    assert cda["ci_low"] < 0 < cda["ci_high"] and abs(cda["value"]) < 0.1, cda
    original, augmented = rows[("data/original", "stereotype_share")], rows[("data/cda", "stereotype_share")]
    assert original["value"] == pytest.approx(0.9, abs=0.03) and augmented["value"] == pytest.approx(0.5, abs=1e-9)
    # the headline: the paired difference to the declared baseline, on the same probes
    delta = rows[("pretrain/cda - pretrain/baseline", "bias_gap")]
    assert delta["baseline"] == "pretrain/baseline" and delta["interval"].startswith("paired cluster bootstrap")
    assert delta["value"] == pytest.approx(cda["value"] - base["value"], abs=1e-9)
    assert delta["ci_low"] <= delta["value"] <= delta["ci_high"] and delta["n"] == base["n"] == 16


def test_every_flip_rate_has_its_guard_and_every_causal_variant_a_paired_difference(lifecycle_run):
    rows = _rows(lifecycle_run["repo"])
    for model in MODELS:
        flip, accuracy, p_yes = (rows[(model, m)] for m in ("cf_flip_rate", "judgement_accuracy", "p_yes"))
        assert flip["interval"] == accuracy["interval"] and flip["interval"].startswith("clopper-pearson")
        assert flip["n"] == accuracy["n"]
        assert 0 <= p_yes["value"] <= 1
        for metric in ("region_gap", "bias_gap_unseen_occupations", "cf_flip_rate_unseen_names", "nll_per_story"):
            assert (model, metric) in rows, (model, metric)
    for pair in ("finetune/cf_sft - finetune/sft", "align/dpo_cf - align/dpo"):
        flip = rows[(pair, "cf_flip_rate")]
        assert flip["p_value"] is not None and 0 < flip["p_value"] <= 1  # exact McNemar
    text = (lifecycle_run["repo"] / "reports/lifecycle/results.txt").read_text()
    assert text.startswith("Paired differences")


def test_a_method_defined_in_the_test_became_a_stage_a_task_a_run_and_rows(lifecycle_run):
    from mlflow.tracking import MlflowClient

    repo = lifecycle_run["repo"]
    balanced = _rows(repo)[("data/balanced", "stereotype_share")]
    assert balanced["value"] == pytest.approx(0.5, abs=0.01) and balanced["n"] < 1350  # rows of the table
    assert "causal-llm stage data/balanced" in (repo / "dvc.yaml").read_text()  # a DVC stage
    assert "data-balanced" in yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    first = str(lifecycle_run["first"].state_details.flow_run_id)
    assert "data/balanced" in lifecycle_run["tasks"][first]  # a Prefect task
    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("causal-llm")
    (run,) = client.search_runs([experiment.experiment_id], "attributes.run_name = 'data/balanced'", max_results=1)
    assert run.data.tags["method"] == "balance" and run.data.metrics["stereotype_share"] == balanced["value"]
    changed = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    edited = [line[3:] for line in changed.splitlines() if line[:2] != "??" and not line.endswith(".gitignore")]
    assert set(edited) <= {"params.yaml", "dvc.yaml", "dvc.lock"}, edited  # what a run writes; no code edited


def test_the_prefect_graph_has_one_task_per_node(lifecycle_run):
    from causal_llm.dag import Lifecycle
    from causal_llm.params import load_params

    lc = Lifecycle(load_params(lifecycle_run["repo"] / "params.yaml"))
    for names in lifecycle_run["tasks"].values():
        assert {n.id for n in lc.nodes} <= set(names), sorted({n.id for n in lc.nodes} - set(names))
        assert not [n for n in names if n.startswith(("dvc-repro", "log-"))]  # one task per node, not two


def test_independent_nodes_ran_at_once_without_lock_errors(lifecycle_run):
    repo = lifecycle_run["repo"]
    timeline = [json.loads(line) for line in (repo / "timeline.jsonl").read_text().splitlines()]
    # Overlapping computation (a node's own compute span, a training loop's on its Ray worker), not
    # overlapping `dvc` processes: those also overlap while one waits for DVC's lock.
    compute = sorted((t["start"], t["end"], t["node"]) for t in timeline if t["kind"] == "compute")
    pairs = [(a, b) for i, a in enumerate(compute) for b in compute[i + 1 :]]
    overlapping = {(a[2], b[2]) for a, b in pairs if b[0] < a[1] and a[2] != b[2]}
    assert len(overlapping) >= 2, overlapping  # e.g. the two pre-training loops, an evaluation beside a training
    fits = [t for t in timeline if t["kind"] == "ray-fit"]
    assert {t["node"] for t in fits} >= MODELS  # every training variant was a Ray Train fit


def test_every_model_has_every_metric_with_a_ci(lifecycle_run):
    rows = _rows(lifecycle_run["repo"])
    metrics = {"bias_gap", "cf_flip_rate", "cf_ll_gap", "perplexity", "direct/accuracy", "causal_graph/accuracy"}
    for variant in MODELS:
        for metric in metrics | {"direct/accuracy/rung=1", "causal_graph/accuracy/rung=3"}:
            r = rows[(variant, metric)]
            assert r["ci_low"] <= r["value"] <= r["ci_high"] and r["n"] > 0, r
    assert (lifecycle_run["repo"] / "reports/lifecycle/bias_gap.png").stat().st_size > 1000


def test_every_model_is_scored_on_the_generated_benchmarks(lifecycle_run):
    repo = lifecycle_run["repo"]
    rows = _rows(repo)
    for variant in MODELS:
        for metric in ("cladder_gen/accuracy", "cladder_gen/accuracy/rung=3", "corr2cause_gen/f1"):
            r = rows[(variant, metric)]
            assert r["ci_low"] <= r["value"] <= r["ci_high"] and r["n"] > 0, r
        families = {m for v, m in rows if v == variant and m.startswith("cladder_gen/accuracy/graph_id=")}
        assert len(families) == 10  # the stratified sample keeps every graph family
    assert rows[("exact_solver", "corr2cause_gen/f1")]["value"] == pytest.approx(1.0)
    results = json.loads((repo / "reports/evaluate/pretrain__cda/results.json").read_text())
    scorer = next(b for b in results["benchmarks"] if b["benchmark"] == "cladder_gen")["scorer"]
    assert {"model", "dtype", "batch_size", "seed", "data_hash"} <= set(scorer)
    items = (repo / "reports/evaluate/pretrain__cda/items/cladder_gen.jsonl").read_text().splitlines()
    assert len(items) == 120 and "loglikelihoods" in json.loads(items[0])
    assert (repo / "reports/lifecycle/cladder_gen__accuracy_by_rung.png").stat().st_size > 1000


def test_training_losses_fall_and_dpo_moved_the_policy(lifecycle_run):
    repo = lifecycle_run["repo"]
    for variant in ("pretrain/baseline", "pretrain/cda", "finetune/sft", "finetune/cf_sft"):
        s = json.loads((repo / f"reports/{variant}/metrics.json").read_text())
        assert s["loss_last"] < s["loss_first"], (variant, s)
        assert s["world_size"] == 1 and s["resumed_from_step"] == 0
    dpo = json.loads((repo / "reports/align/dpo_cf/metrics.json").read_text())
    assert dpo["mean_abs_logratio_shift"] > 1e-3, dpo
    assert dpo["margin_policy"] > dpo["margin_reference"], dpo  # DPO pushed towards the chosen answers


def test_mlflow_has_a_parent_and_one_child_run_per_node(lifecycle_run):
    from mlflow.tracking import MlflowClient

    repo = lifecycle_run["repo"]
    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("causal-llm")
    runs = client.search_runs([experiment.experiment_id], max_results=500)
    parents = [r for r in runs if r.data.tags.get("causal_llm.run_type") == "lifecycle"]
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    assert all(r.info.status == "FINISHED" for r in runs)  # child runs end once logged
    first = min(parents, key=lambda r: r.info.start_time)
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == first.info.run_id}
    assert MODELS | {"data/original", "data/cda", "infer/direct", "evaluate/pretrain/cda"} <= set(children)
    for child in children.values():
        tags = child.data.tags
        assert tags["git.commit"] and tags["prefect.flow_run_id"] and tags["stage"] and tags["dvc.stage"], tags
    for variant in ("finetune/sft", "finetune/cf_sft", "align/dpo_cf", "pretrain/cda"):
        assert children[variant].data.metrics["world_size"] == 1  # trained on Ray Train
    pretrain = children["pretrain/baseline"]
    assert pretrain.data.tags["method"] == "scratch" and pretrain.data.tags["from"] == "data/original"
    assert any(k.startswith("dvc.dep.data/corpora/original.jsonl") for k in pretrain.data.tags)
    assert pretrain.data.params["config.training.epochs"] == "3"  # the node's effective config
    assert len(client.get_metric_history(pretrain.info.run_id, "train_loss")) > 10
    assert [a.path for a in client.list_artifacts(pretrain.info.run_id, "model")]
    artifacts = {a.path for a in client.list_artifacts(first.info.run_id, "results")}
    assert {"results/results.json", "results/results.csv", "results/bias_gap.png"} <= artifacts
    second = max(parents, key=lambda r: r.info.start_time)
    skipped = [r.data.tags["dvc.skipped"] for r in runs if r.data.tags.get("mlflow.parentRunId") == second.info.run_id]
    assert skipped and set(skipped) == {"true"}


def test_models_are_registered_self_contained_and_the_second_run_is_compared(lifecycle_run, tmp_path):
    from mlflow.tracking import MlflowClient

    import mlflow
    from causal_llm.models.loading import load_model, read_bundle

    repo = lifecycle_run["repo"]
    decisions = json.loads((repo / "reports/registry/promotion.json").read_text())
    assert {d["variant"] for d in decisions} == MODELS
    assert all(d["version"] == "1" and "unchanged" in d["reason"] for d in decisions)  # the second run
    uri = f"sqlite:///{repo / 'mlflow/mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias("causal-llm-smoke-pretrain-cda", "champion")
    assert champion.tags["variant"] == "pretrain/cda" and float(champion.tags["metric.bias_gap"]) < 0.2
    assert champion.tags["lineage"] == "pretrain/cda (scratch) <- data/cda (cda_two_sided)"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        champion_uri = "models:/causal-llm-smoke-align-dpo_cf@champion"
        path = mlflow.artifacts.download_artifacts(champion_uri, dst_path=str(tmp_path))
    finally:  # process-wide settings: later tests must not find this store
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    assert read_bundle(path)["base_ref"].startswith(str(tmp_path))  # everything it needs is in the download
    assert load_model(path) is not None
    comparison = (repo / "reports/compare/comparison.txt").read_text()
    assert "pretrain/cda" in comparison and "WARNING" not in comparison  # same scorers, same data


def test_dvc_is_up_to_date_and_data_was_pushed(lifecycle_run):
    repo = lifecycle_run["repo"]
    status = _dvc(repo, "repro", "--dry")
    assert status.returncode == 0 and "Running stage" not in status.stdout, status.stdout
    assert any((repo / ".dvcstore").rglob("*")), "dvc push wrote nothing to the local remote"


def test_a_bad_override_fails_before_compute(lifecycle_run):
    repo = lifecycle_run["repo"]
    kept = (repo / "params.yaml").read_bytes()
    out = _cli(repo, "run", "--profile", "smoke", "--set", "pretrain.defaults.training.epoch=1")
    assert out.returncode == 2, out.stderr
    assert "overrides.pretrain.defaults.training.epoch: unknown key. Did you mean 'epochs'?" in out.stderr
    assert (repo / "params.yaml").read_bytes() == kept


def test_an_unreachable_mlflow_server_is_named_in_seconds_before_any_flow_run(lifecycle_run):
    repo = lifecycle_run["repo"]
    start = time.monotonic()
    out = _cli(repo, "run", "--profile", "smoke", env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    assert out.returncode == 2 and time.monotonic() - start < 20, (out.stderr, time.monotonic() - start)
    assert "MLFLOW_TRACKING_URI=http://127.0.0.1:9: no MLflow server answers" in out.stderr
    assert "Traceback" not in out.stderr and "Beginning flow run" not in out.stdout + out.stderr


def test_same_params_and_seed_give_the_same_metrics(lifecycle_run):
    repo = lifecycle_run["repo"]
    rows = (repo / "reports/lifecycle/results.json").read_text()
    assert rows == lifecycle_run["first_rows"]  # the second run skipped everything and changed nothing
    results = repo / "reports/evaluate/pretrain__baseline/results.json"
    before = results.read_text()
    done = _dvc(repo, "repro", "--force", "--single-item", "evaluate-pretrain-baseline")
    assert done.returncode == 0, done.stdout[-3000:]
    assert results.read_text() == before


def test_a_variants_param_change_reruns_exactly_what_depends_on_it(lifecycle_run, shared_ray):
    """Through DVC itself (`dvc repro`, the second entry point): the changed variant, its evaluation,
    the inference variants that read its model, and the report; nothing else. The training node
    joins a running Ray instance, as under a lifecycle run."""
    from causal_llm.ops.params_file import activate_params

    repo = lifecycle_run["repo"]
    old = Path.cwd()
    os.chdir(repo)
    try:
        activate_params(lifecycle_run["params_file"], "smoke", {"align": {"variants": {"dpo_cf": {"beta": 0.2}}}})
        done = _dvc(repo, "repro")
        ran = {line.split("'")[1] for line in done.stdout.splitlines() if line.startswith("Running stage")}
        assert done.returncode == 0, done.stdout[-3000:]
        assert ran == {
            "params",
            "align-dpo_cf",
            "evaluate-align-dpo_cf",
            "infer-direct",
            "infer-causal_graph",
            "report",
        }
    finally:
        activate_params(lifecycle_run["params_file"], "smoke")
        restored = _dvc(repo, "repro")  # DVC's run cache brings the first outputs back
        os.chdir(old)
    assert restored.returncode == 0 and "Running stage 'pretrain" not in restored.stdout


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def _registered_checkpoint(storage: Path) -> bool:
    """Ray Train's snapshot of the run names a checkpoint (the directory alone is not enough: it is
    written before the controller registers it)."""
    for snapshot in storage.glob("pretrain-baseline-*/checkpoint_manager_snapshot.json"):
        try:
            if json.loads(snapshot.read_text()).get("checkpoint_results"):
                return True
        except ValueError:
            pass  # being written
    return False


@pytest.fixture
def shared_ray(lifecycle_run):
    """The Ray instance a lifecycle run shares, started as the run starts it."""
    from causal_llm.ops.ray_cluster import start_ray, stop_ray

    address = start_ray()
    yield address
    stop_ray()


@pytest.mark.parametrize("victim", ["stage process", "ray worker"])
def test_a_killed_pretraining_run_resumes_to_the_uninterrupted_numbers(lifecycle_run, shared_ray, victim):
    """kill -9 mid-training: of the node's process (DVC's command; re-run it), or of the Ray Train
    worker (Ray restarts it, FailureConfig): either way training resumes from the latest checkpoint
    and ends with the weights and losses of the run that was never interrupted."""
    import psutil

    repo = lifecycle_run["repo"]
    pid_file = repo / ".causal_llm/run/pretrain-baseline.pid"
    pid_file.unlink(missing_ok=True)
    assert not list((repo / "build/ray").glob("pretrain-baseline-*")), "a run left to resume before the test"
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    command = ["dvc", "--wait-for-lock", "repro", "--force", "--single-item", "pretrain-baseline"]
    proc = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for(lambda: _registered_checkpoint(repo / "build/ray"), 120, "a first registered checkpoint")
    if victim == "stage process":
        os.kill(int(pid_file.read_text()), 9)
        out = proc.communicate(timeout=120)[0]
        assert proc.returncode != 0, out[-2000:]
        # --force: the inputs did not change, so DVC's run cache would restore the first run's outputs.
        again = _dvc(repo, "repro", "--force", "--single-item", "pretrain-baseline")
        assert again.returncode == 0, again.stdout[-3000:]
        log = again.stdout
    else:
        workers = _wait_for(
            lambda: [
                p for p in psutil.process_iter(["cmdline"]) if "RayTrainWorker" in " ".join(p.info["cmdline"] or [])
            ],
            30,
            "the Ray Train worker",
        )
        for worker in workers:
            worker.kill()
        log = proc.communicate(timeout=240)[0]
        assert proc.returncode == 0, log[-3000:]
    assert "resuming from its checkpoint" in log or "resumed from the checkpoint" in log, log[-3000:]
    metrics = json.loads((repo / "reports/pretrain/baseline/metrics.json").read_text())
    assert metrics["resumed_from_step"] > 0
    assert metrics["losses"] == lifecycle_run["pretrain_metrics"]["losses"]
    assert (repo / "models/pretrain/baseline/model.safetensors").read_bytes() == lifecycle_run["weights"]
    assert not list((repo / "build/ray").glob("pretrain-baseline-*")), "a finished run leaves nothing to resume"


@pytest.mark.parametrize(
    ("params_edit", "expected"),
    [
        ({"data": {"n_storie": 10}}, "data.n_storie: unknown key. Did you mean 'n_stories'?"),
        (
            {"pretrain": {"defaults": {"training": {"epochs": "three"}}}},
            "pretrain.defaults.training.epochs: expected int, got str",
        ),
        ({"data": {"corpus_file": "missing.jsonl"}}, "missing.jsonl: file not found"),
        ({"data": {"corpus_file": "bad.jsonl"}}, "bad.jsonl:2: not valid JSON"),
        ({"data": {"variants": {"cda": {"method": "cda_two_sidd"}}}}, "data.variants.cda.method: unknown data method"),
        (
            {"pretrain": {"variants": {"cda": {"from": "data/cdaa"}}}},
            "'data/cdaa' is not a variant. Did you mean 'data/cda'?",
        ),
        ({"evaluate": {"benchmarks": ["crows_pairs:gone.csv"]}}, "evaluate.benchmarks[0]: gone.csv: file not found"),
        ({"evaluate": {"benchmarks": ["cladder_gne"]}}, "evaluate.benchmarks[0]: 'cladder_gne' is neither"),
        ({"benchmarks": {"corr2cause_variables": [6]}}, "benchmarks.corr2cause_variables must list sizes"),
        ({"registry": {"bias_metrics": ["perplexity"]}}, "registry.bias_metrics: 'perplexity' has no known unbiased"),
    ],
)
def test_bad_input_fails_before_compute_and_keeps_results(lifecycle_run, params_edit, expected):
    from causal_llm.config import deep_merge

    repo = lifecycle_run["repo"]
    (repo / "bad.jsonl").write_text('{"text": "fine"}\n{"text": broken\n')
    params = deep_merge(yaml.safe_load((repo / "params.yaml").read_text()), params_edit)
    (repo / "bad_params.yaml").write_text(yaml.safe_dump(params))
    kept = {
        p: p.read_bytes() for p in [repo / "params.yaml", repo / "dvc.yaml", repo / "reports/lifecycle/results.json"]
    }
    out = _cli(repo, "run", "--profile", "smoke", "--params", "bad_params.yaml")
    assert out.returncode == 2, out.stderr
    assert expected in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    for path, content in kept.items():
        assert path.read_bytes() == content, f"{path} was changed by a failed run"
