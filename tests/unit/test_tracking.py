"""MlflowTracker against a real SQLite tracking store in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from causal_llm.tracking import MlflowTracker, default_tracking_uri, flatten


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    tracker = MlflowTracker(uri, "unit-tests", artifact_root=str(root / "artifacts"))
    return tracker, root


def test_parent_and_child_runs(store):
    tracker, _ = store
    parent = tracker.start_run("lifecycle", tags={"profile": "smoke"})
    child = tracker.start_run("pretrain", parent_id=parent, tags={"stage": "pretrain"})
    assert parent != child
    client = tracker.client
    p, c = client.get_run(parent), client.get_run(child)
    assert c.data.tags["mlflow.parentRunId"] == parent
    assert c.data.tags["stage"] == "pretrain"
    assert "mlflow.parentRunId" not in p.data.tags
    assert p.data.tags["profile"] == "smoke"
    assert p.info.run_name == "lifecycle" and c.info.run_name == "pretrain"
    assert p.info.experiment_id == c.info.experiment_id == tracker.experiment_id
    assert p.info.status == "RUNNING"


def test_params_are_flattened(store):
    tracker, _ = store
    run = tracker.start_run("params")
    tracker.log_params(
        run, {"seed": 0, "data": {"n_stories": 60, "augmenter": "cds"}, "infer": {"strategies": ["a", "b"]}}
    )
    params = tracker.client.get_run(run).data.params
    assert params == {
        "seed": "0",
        "data.n_stories": "60",
        "data.augmenter": "cds",
        "infer.strategies": "['a', 'b']",
    }


def test_more_than_100_params(store):
    tracker, _ = store
    run = tracker.start_run("many-params")
    tracker.log_params(run, {f"p{i:03d}": i for i in range(150)})
    params = tracker.client.get_run(run).data.params
    assert len(params) == 150
    assert params["p149"] == "149"


def test_metrics_and_history(store):
    tracker, _ = store
    run = tracker.start_run("metrics")
    tracker.log_metrics(run, {"bias_gap": 0.5, "causal_acc_rung1/direct": 0.75, "bad": float("nan"), "text": "x"})
    tracker.log_metrics(run, {"bias_gap": 0.25}, step=3)
    tracker.log_history(run, "loss", [3.0, 2.0, 1.5])
    client = tracker.client
    metrics = client.get_run(run).data.metrics
    assert metrics["causal_acc_rung1.direct"] == 0.75
    assert "bad" not in metrics and "text" not in metrics
    gap = sorted((m.step, m.value) for m in client.get_metric_history(run, "bias_gap"))
    assert gap == [(0, 0.5), (3, 0.25)]
    loss = sorted((m.step, m.value) for m in client.get_metric_history(run, "loss"))
    assert loss == [(0, 3.0), (1, 2.0), (2, 1.5)]


def test_artifacts(store, tmp_path):
    tracker, root = store
    run = tracker.start_run("artifacts")
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "results.json").write_text("[]\n")
    (folder / "results.txt").write_text("table\n")
    single = tmp_path / "params.yaml"
    single.write_text("seed: 0\n")
    tracker.log_artifacts(run, folder, "report")
    tracker.log_artifacts(run, single)
    tracker.log_artifacts(run, tmp_path / "missing")  # nothing there: nothing logged, no error
    client = tracker.client
    top = {a.path for a in client.list_artifacts(run)}
    assert top == {"report", "params.yaml"}
    inside = {a.path for a in client.list_artifacts(run, "report")}
    assert inside == {"report/results.json", "report/results.txt"}
    # the artifacts live under the given artifact root
    stored = list(Path(root / "artifacts").rglob("results.json"))
    assert len(stored) == 1 and stored[0].read_text() == "[]\n"


def test_tags_and_end_run(store):
    tracker, _ = store
    ok, failed = tracker.start_run("ok"), tracker.start_run("failed")
    tracker.set_tags(ok, {"variant": "causal", "n": 3})
    tracker.end_run(ok)
    tracker.end_run(failed, "FAILED")
    client = tracker.client
    assert client.get_run(ok).data.tags["variant"] == "causal"
    assert client.get_run(ok).data.tags["n"] == "3"
    assert client.get_run(ok).info.status == "FINISHED"
    assert client.get_run(failed).info.status == "FAILED"
    assert client.get_run(ok).info.end_time is not None


def test_reopening_finds_the_same_experiment(store):
    tracker, _ = store
    again = MlflowTracker(tracker.tracking_uri, "unit-tests")
    assert again.experiment_id == tracker.experiment_id
    other = MlflowTracker(tracker.tracking_uri, "another")
    assert other.experiment_id != tracker.experiment_id


def test_flatten_and_default_uri(tmp_path):
    assert flatten({"a": {"b": {"c": 1}, "d": None}, "e": [1]}) == {"a.b.c": "1", "a.d": "None", "e": "[1]"}
    assert flatten({}) == {}
    uri = default_tracking_uri(tmp_path)
    assert uri == f"sqlite:///{(tmp_path / 'mlflow' / 'mlflow.db').resolve()}"


def test_the_null_tracker_records_nothing_and_answers_like_a_tracker(tmp_path):
    from causal_llm.tracking import NO_TRACKING, NullTracker, make_tracker

    tracker = make_tracker(NO_TRACKING, "x")
    assert isinstance(tracker, NullTracker)
    run = tracker.start_run("lifecycle", tags={"a": "b"})
    child = tracker.start_run("pretrain/baseline", run)
    assert run != child and run.startswith("null-")
    tracker.log_params(child, {"a": 1})
    tracker.log_metrics(child, {"loss": 1.0})
    tracker.log_history(child, "train_loss", [1.0, 0.5])
    tracker.log_artifacts(child, tmp_path)
    tracker.set_tags(child, {"k": "v"})
    tracker.end_run(child)
    assert tracker.find_runs() == []
    assert not list(tmp_path.iterdir())  # nothing written anywhere


def test_the_locked_tracker_serialises_calls_from_threads(tmp_path):
    import threading

    from causal_llm.ops.runs import LockedTracker

    tracker = LockedTracker(MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", "locked"))
    parent = tracker.start_run("lifecycle")

    def log(i: int) -> None:
        child = tracker.start_run(f"node-{i}", parent)
        tracker.log_metrics(child, {"value": float(i)})
        tracker.end_run(child)

    threads = [threading.Thread(target=log, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    children = tracker.find_runs(f"tags.`mlflow.parentRunId` = '{parent}'")
    assert sorted(c["metrics"]["value"] for c in children) == [float(i) for i in range(8)]
