"""The smoke lifecycle end to end on real components: Prefect (test harness), a local Ray instance,
an MLflow SQLite store and a DVC repository inside a temporary git repository.

One lifecycle run is shared by the module's tests (it takes about two minutes); each test then
checks one promise of the platform against what that run left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workspace import fresh_clone


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "causal_llm.cli", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )


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
        }
    )
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("RAY_ADDRESS", None)
    try:
        with prefect_test_harness(server_startup_timeout=120):
            from flows.lifecycle import lifecycle

            first = lifecycle(profile="smoke")
            second = lifecycle(profile="smoke")  # unchanged params: DVC skips every stage
            yield {"repo": repo, "first": first, "second": second}
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(env_before)


def _rows(repo: Path) -> dict[tuple[str, str], dict]:
    rows = json.loads((repo / "reports/lifecycle/results.json").read_text())
    assert rows and set(rows[0]) == {"variant", "stage", "metric", "value", "ci_low", "ci_high", "n"}
    return {(r["variant"], r["metric"]): r for r in rows}


def test_baseline_shows_injected_bias_and_cda_removes_it(lifecycle_run):
    rows = _rows(lifecycle_run["repo"])
    base, cda = rows[("pretrain/baseline", "bias_gap")], rows[("pretrain/cda", "bias_gap")]
    assert base["ci_low"] > 0.5, base  # the spurious association is learnt, CI clear of 0
    assert abs(cda["value"]) < base["value"] / 4, (base, cda)
    assert cda["ci_low"] < 0 < cda["ci_high"], cda  # the SCM's truth (0) is inside CDA's interval
    original, augmented = (
        rows[("data/original", "stereotype_share")],
        rows[("data/cda_two_sided", "stereotype_share")],
    )
    assert original["value"] == pytest.approx(0.9, abs=0.03) and augmented["value"] == pytest.approx(0.5, abs=1e-9)


def test_every_variant_has_every_metric_with_a_ci(lifecycle_run):
    rows = _rows(lifecycle_run["repo"])
    variants = {"pretrain/baseline", "pretrain/cda", "finetune/sft", "finetune/cf_sft", "align/dpo_cf"}
    metrics = {
        "bias_gap",
        "cf_flip_rate",
        "cf_ll_gap",
        "perplexity",
        "causal_acc_rung1/direct",
        "causal_acc_rung2/direct",
        "causal_acc_rung3/causal_graph",
    }
    for variant in variants:
        for metric in metrics:
            r = rows[(variant, metric)]
            assert r["ci_low"] <= r["value"] <= r["ci_high"] and r["n"] > 0, r
    assert (lifecycle_run["repo"] / "reports/lifecycle/bias_gap.png").stat().st_size > 1000


def test_every_variant_is_scored_on_the_generated_benchmarks(lifecycle_run):
    repo = lifecycle_run["repo"]
    rows = _rows(repo)
    variants = {"pretrain/baseline", "pretrain/cda", "finetune/sft", "finetune/cf_sft", "align/dpo_cf"}
    for variant in variants:
        for metric in ("cladder_gen/accuracy", "cladder_gen/accuracy/rung=3", "corr2cause_gen/f1"):
            r = rows[(variant, metric)]
            assert r["ci_low"] <= r["value"] <= r["ci_high"] and r["n"] > 0, r
        families = {m for v, m in rows if v == variant and m.startswith("cladder_gen/accuracy/graph_id=")}
        assert len(families) == 10  # the stratified sample keeps every graph family
    assert rows[("exact_solver", "corr2cause_gen/f1")]["value"] == pytest.approx(1.0)
    results = json.loads((repo / "reports/evaluate/results.json").read_text())
    scorer = next(b for b in results["benchmarks"] if b["benchmark"] == "cladder_gen")["scorer"]
    assert {"model", "dtype", "batch_size", "seed", "data_hash"} <= set(scorer)
    items = (repo / "reports/evaluate/items/pretrain__cda/cladder_gen.jsonl").read_text().splitlines()
    assert len(items) == 120 and "loglikelihoods" in json.loads(items[0])
    assert (repo / "reports/lifecycle/cladder_gen__accuracy_by_rung.png").stat().st_size > 1000
    lock = (repo / "dvc.lock").read_text()
    assert "data/benchmarks" in lock and "/benchmarks" in (repo / "data/.gitignore").read_text()


def test_training_losses_fall_and_dpo_moved_the_policy(lifecycle_run):
    repo = lifecycle_run["repo"]
    for stage in ("pretrain", "finetune"):
        for variant, s in json.loads((repo / f"reports/{stage}/metrics.json").read_text())["variants"].items():
            assert s["loss_last"] < s["loss_first"], (stage, variant, s)
    dpo = json.loads((repo / "reports/align/metrics.json").read_text())["variants"]["dpo_cf"]
    assert dpo["mean_abs_logratio_shift"] > 1e-3, dpo
    assert dpo["margin_policy"] > dpo["margin_reference"], dpo  # DPO pushed towards the chosen answers


def test_mlflow_has_parent_and_child_runs_with_lineage_tags(lifecycle_run):
    from mlflow.tracking import MlflowClient

    repo = lifecycle_run["repo"]
    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("causal-llm")
    runs = client.search_runs([experiment.experiment_id], max_results=500)
    parents = [r for r in runs if r.data.tags.get("causal_llm.run_type") == "lifecycle"]
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    assert all(r.info.status == "FINISHED" for r in runs)  # child runs end once logged
    first = min(parents, key=lambda r: r.info.start_time)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == first.info.run_id]
    names = {c.info.run_name for c in children}
    assert {
        "pretrain/baseline",
        "pretrain/cda",
        "finetune/sft",
        "align/dpo_cf",
        "evaluate/pretrain/cda",
    } <= names
    for child in children:
        tags = child.data.tags
        assert tags["git.commit"] and tags["prefect.flow_run_id"] and tags["stage"], tags
    pretrain = next(c for c in children if c.info.run_name == "pretrain/baseline")
    assert any(k.startswith("dvc.dep.data/testbed") for k in pretrain.data.tags)
    assert len(client.get_metric_history(pretrain.info.run_id, "train_loss")) > 10
    assert [a.path for a in client.list_artifacts(pretrain.info.run_id, "model")]
    artifacts = {a.path for a in client.list_artifacts(first.info.run_id, "results")}
    assert {"results/results.json", "results/results.csv", "results/bias_gap.png"} <= artifacts
    second = max(parents, key=lambda r: r.info.start_time)
    skipped = [r.data.tags["dvc.skipped"] for r in runs if r.data.tags.get("mlflow.parentRunId") == second.info.run_id]
    assert skipped and set(skipped) == {"true"}


def test_bad_override_fails_before_compute(lifecycle_run):
    repo = lifecycle_run["repo"]
    kept = (repo / "params.yaml").read_bytes()
    out = _cli(repo, "run", "--profile", "smoke", "--set", "pretrain.epoch=1")
    assert out.returncode == 2 and "overrides.pretrain.epoch: unknown key. Did you mean 'epochs'?" in out.stderr
    assert (repo / "params.yaml").read_bytes() == kept


def test_models_are_registered_and_the_second_run_is_compared_with_the_first(lifecycle_run):
    from mlflow.tracking import MlflowClient

    repo = lifecycle_run["repo"]
    decisions = json.loads((repo / "reports/registry/promotion.json").read_text())
    assert {d["variant"] for d in decisions} == {
        "pretrain/baseline", "pretrain/cda", "finetune/sft", "finetune/cf_sft", "align/dpo_cf",
    }  # fmt: skip
    assert all(d["version"] == "1" and "unchanged" in d["reason"] for d in decisions)  # the second run
    uri = f"sqlite:///{repo / 'mlflow/mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias("causal-llm-smoke-pretrain-cda", "champion")
    assert champion.tags["variant"] == "pretrain/cda" and float(champion.tags["metric.bias_gap"]) < 0.2
    comparison = (repo / "reports/compare/comparison.txt").read_text()
    assert "pretrain/cda" in comparison and "WARNING" not in comparison  # same scorers, same data


def test_dvc_is_up_to_date_and_data_was_pushed(lifecycle_run):
    repo = lifecycle_run["repo"]
    status = subprocess.run(["dvc", "repro", "--dry"], cwd=repo, capture_output=True, text=True)
    assert status.returncode == 0 and "Running stage" not in status.stdout, status.stdout
    assert "up to date" in status.stdout.lower() or "didn't change" in status.stdout
    assert any((repo / ".dvcstore").rglob("*")), "dvc push wrote nothing to the local remote"


def test_an_override_reruns_only_the_stages_it_touches(lifecycle_run, monkeypatch):
    from causal_llm.pipeline import activate_params

    repo = lifecycle_run["repo"]
    monkeypatch.chdir(repo)

    def changed_stages() -> set[str]:
        out = subprocess.run(["dvc", "status", "--json"], capture_output=True, text=True, check=True).stdout
        return set(json.loads(out))

    activate_params("params.yaml", "smoke", {"align": {"beta": 0.2}})
    assert changed_stages() == {"align"}  # downstream stages follow once align's outputs change
    activate_params("params.yaml", "smoke", {"seed": 1})
    assert {"data", "benchmarks", "pretrain", "finetune", "align", "infer", "evaluate"} <= changed_stages()
    activate_params("params.yaml", "smoke")
    assert changed_stages() == set()


def test_same_params_and_seed_give_the_same_metrics(lifecycle_run):
    repo = lifecycle_run["repo"]
    before = (repo / "reports/evaluate/results.json").read_text()
    subprocess.run(["dvc", "repro", "--force", "--single-item", "evaluate"], cwd=repo, check=True, capture_output=True)
    assert (repo / "reports/evaluate/results.json").read_text() == before


@pytest.mark.parametrize(
    ("params_edit", "expected"),
    [
        ({"data": {"n_storie": 10}}, "data.n_storie: unknown key. Did you mean 'n_stories'?"),
        ({"pretrain": {"epochs": "three"}}, "pretrain.epochs: expected int, got str"),
        ({"data": {"corpus_file": "missing.jsonl"}}, "missing.jsonl: file not found"),
        ({"data": {"corpus_file": "bad.jsonl"}}, "bad.jsonl:2: not valid JSON"),
        ({"data": {"augmenter": "cda_two_sidd"}}, "data.augmenter: unknown augmenter 'cda_two_sidd'"),
        ({"evaluate": {"benchmarks": ["crows_pairs:gone.csv"]}}, "evaluate.benchmarks[0]: gone.csv: file not found"),
        ({"evaluate": {"benchmarks": ["cladder_gne"]}}, "evaluate.benchmarks[0]: 'cladder_gne' is neither"),
        (
            {"evaluate": {"benchmarks": ["cladder_gen", "cladder_gen"]}},
            "benchmarks[1]: 'cladder_gen' has the same name",
        ),
        ({"benchmarks": {"corr2cause_variables": [6]}}, "benchmarks.corr2cause_variables must list sizes"),
        ({"registry": {"bias_metrics": ["perplexity"]}}, "registry.bias_metrics: 'perplexity' has no known unbiased"),
    ],
)
def test_bad_input_fails_before_compute_and_keeps_results(lifecycle_run, params_edit, expected):
    import yaml

    repo = lifecycle_run["repo"]
    (repo / "bad.jsonl").write_text('{"text": "fine"}\n{"text": broken\n')
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in params_edit.items():
        params[section].update(values)
    (repo / "bad_params.yaml").write_text(yaml.safe_dump(params))
    kept = {p: p.read_bytes() for p in [repo / "params.yaml", repo / "reports/lifecycle/results.json"]}
    out = _cli(repo, "run", "--profile", "smoke", "--params", "bad_params.yaml")
    assert out.returncode == 2, out.stderr
    assert expected in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    for path, content in kept.items():
        assert path.read_bytes() == content, f"{path} was changed by a failed run"
