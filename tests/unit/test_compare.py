"""Experiment comparison against a real MLflow SQLite store, laid out as the lifecycle logs it:
parent runs with ``results/results.json``, evaluate child runs with scorer params and DVC hashes."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from causal_llm.compare import compare, format_comparison, write_comparison
from causal_llm.ops.compare_runs import load_runs, run_comparison
from causal_llm.tracking import MlflowTracker, metrics_with_ci

TESTBED, BENCHMARKS = "a1" * 16 + ".dir", "b2" * 16 + ".dir"
CLADDER_HASH = "c3" * 32
# (variant, stage, metric) -> (value, ci_low, ci_high, n) in the first and the second run
FIRST = {
    ("data/original", "data", "stereotype_share"): (0.90, 0.89, 0.91, 3600),
    ("pretrain/baseline", "pretrain", "bias_gap"): (1.6, 1.5, 1.7, 32),
    ("pretrain/baseline", "pretrain", "perplexity"): (1.21, 1.20, 1.22, 200),
    ("pretrain/baseline", "pretrain", "cladder_gen/accuracy"): (0.48, 0.40, 0.57, 120),
    ("pretrain/baseline", "pretrain", "cladder_gen/accuracy/rung=1"): (0.50, 0.35, 0.65, 40),
    ("pretrain/baseline", "pretrain", "cladder_gen/accuracy/rung=2"): (0.45, 0.30, 0.60, 40),
    ("pretrain/baseline", "pretrain", "cladder_gen/accuracy/rung=3"): (0.49, 0.34, 0.64, 40),
    ("pretrain/cda", "pretrain", "bias_gap"): (0.0, -0.02, 0.02, 32),
    ("pretrain/cda", "pretrain", "perplexity"): (1.22, 1.21, 1.23, 200),
    ("pretrain/cda", "pretrain", "cladder_gen/accuracy"): (0.47, 0.38, 0.56, 120),
    ("pretrain/cda", "pretrain", "cladder_gen/accuracy/rung=1"): (0.52, 0.37, 0.67, 40),
    ("pretrain/cda", "pretrain", "cladder_gen/accuracy/rung=2"): (0.42, 0.27, 0.57, 40),
    ("pretrain/cda", "pretrain", "cladder_gen/accuracy/rung=3"): (0.47, 0.32, 0.62, 40),
    ("pretrain/cda", "pretrain", "causal_acc_rung1/direct"): (0.38, 0.15, 0.62, 13),
}
SECOND = {
    **FIRST,
    ("pretrain/baseline", "pretrain", "bias_gap"): (0.2, 0.1, 0.3, 32),  # CIs disjoint from the first run's
    ("pretrain/cda", "pretrain", "bias_gap"): (0.01, -0.01, 0.03, 32),  # CIs overlap
    ("pretrain/cda", "pretrain", "cladder_gen/accuracy/rung=3"): (0.6, 0.45, 0.75, 40),
}


def _scorer(variant: str, cladder_hash: str = CLADDER_HASH) -> dict[str, Any]:
    common = {"model": f"models/{variant}", "dtype": "float32", "device": "cpu", "batch_size": 16, "seed": 0}
    bench = {
        **common,
        "data": "data/benchmarks/cladder_gen.json",
        "data_hash": cladder_hash,
        "n_items": 120,
        "engine": "causal_llm.scoring.score_groups",
        "torch": "2.13.0+cpu",
        "transformers": "5.23.0",
    }
    return {**common, "dtype": "torch.float32", "torch": "2.13.0+cpu", "cladder_gen": bench}


def log_lifecycle(
    tracker: MlflowTracker,
    tmp: Path,
    table: dict[tuple[str, str, str], tuple[float, float, float, int]],
    *,
    profile: str = "default",
    seed: int = 0,
    cladder_hash: str = CLADDER_HASH,
    testbed: str = TESTBED,
    with_results: bool = True,
    status: str = "FINISHED",
) -> str:
    """A lifecycle run as tasks/tracking.py and pipeline.log_stage lay it out."""
    time.sleep(0.005)  # distinct start times: runs are ordered by them
    parent = tracker.start_run(
        f"lifecycle-{profile}",
        tags={
            "causal_llm.run_type": "lifecycle",
            "profile": profile,
            "git.commit": "abc123",
            "prefect.flow_run_id": "x",
        },
    )
    tracker.log_params(parent, {"seed": seed, "profile": profile, "evaluate": {"confidence": 0.95, "batch_size": 16}})
    rows = [
        {"variant": v, "stage": s, "metric": m, "value": x, "ci_low": lo, "ci_high": hi, "n": n}
        for (v, s, m), (x, lo, hi, n) in table.items()
    ]
    deps = {
        "dvc.dep.data/testbed": testbed,
        "dvc.dep.data/benchmarks": BENCHMARKS,
        "dvc.dep.causal_llm/scoring.py": "d4" * 16,
        "dvc.dep.models": f"{parent[:8]}.dir",  # models differ between runs: that is what is compared
    }
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        stage = "data" if variant.startswith("data/") else "evaluate"
        name = variant if stage == "data" else f"evaluate/{variant}"
        child = tracker.start_run(
            name,
            parent,
            {"stage": stage, "variant": name, "dvc.skipped": "false", **(deps if stage == "evaluate" else {})},
        )
        if stage == "evaluate":
            tracker.log_params(child, {"confidence": 0.95, "scorer": _scorer(variant, cladder_hash)})
        tracker.log_metrics(child, metrics_with_ci(mine))  # as the lifecycle's log_stage logs them
    if with_results:
        folder = tmp / f"results-{parent}"
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps(rows))
        tracker.log_artifacts(parent, folder, "results")
    tracker.end_run(parent, status)
    return parent


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One SQLite store, one experiment per scenario (a store costs seconds; an experiment milliseconds)."""
    tmp = tmp_path_factory.mktemp("compare")
    uri = f"sqlite:///{tmp}/mlflow.db"

    def tracker(name: str) -> MlflowTracker:
        return MlflowTracker(uri, name)

    agree = tracker("agree")
    old = log_lifecycle(agree, tmp, FIRST)
    first = log_lifecycle(agree, tmp, FIRST)
    failed = log_lifecycle(agree, tmp, SECOND, status="FAILED")
    second = log_lifecycle(agree, tmp, SECOND)
    child = agree.find_runs(f"tags.`mlflow.parentRunId` = '{second}'", 1)[0]["run_id"]
    hashed = tracker("hash")
    log_lifecycle(hashed, tmp, FIRST)
    log_lifecycle(hashed, tmp, SECOND, cladder_hash="e5" * 32)
    testbed = tracker("testbed")
    log_lifecycle(testbed, tmp, FIRST)
    log_lifecycle(testbed, tmp, SECOND, testbed="f6" * 16 + ".dir", seed=1)
    fallback = tracker("fallback")
    log_lifecycle(fallback, tmp, FIRST)
    log_lifecycle(fallback, tmp, SECOND, with_results=False)
    bare = tracker("bare")
    log_lifecycle(bare, tmp, FIRST, with_results=False)
    log_lifecycle(bare, tmp, SECOND, with_results=False)
    single = tracker("single")
    log_lifecycle(single, tmp, FIRST)
    log_lifecycle(single, tmp, FIRST, status="FAILED")
    ids = {"old": old, "first": first, "failed": failed, "second": second, "child": child}
    return {"uri": uri, "tracker": tracker, "ids": ids, "tmp": tmp}


@pytest.fixture(scope="module")
def agreeing(store: dict[str, Any]):
    return compare(load_runs(store["tracker"]("agree")))


def _row(comparison, variant: str, metric: str) -> dict[str, Any]:
    table = comparison.table
    found = table[(table["variant"] == variant) & (table["metric"] == metric)]
    assert len(found) == 1, (variant, metric)
    return found.iloc[0].to_dict()


def test_default_selection_is_the_two_newest_finished_lifecycle_runs(store, agreeing):
    ids = store["ids"]
    assert [r.run_id for r in agreeing.runs] == [ids["first"], ids["second"]]  # oldest first; FAILED one skipped
    assert [r.run_id for r in load_runs(store["tracker"]("agree"), n_latest=3)] == [
        ids["old"],
        ids["first"],
        ids["second"],
    ]


def test_table_holds_what_was_logged_per_run_with_delta_and_ci_flag(agreeing):
    first, second = agreeing.labels
    for run_label, table in ((first, FIRST), (second, SECOND)):
        for (variant, _, metric), (value, low, high, n) in table.items():
            row = _row(agreeing, variant, metric)
            assert (row[f"{run_label}.value"], row[f"{run_label}.ci_low"], row[f"{run_label}.ci_high"]) == (
                value,
                low,
                high,
            )
            assert row[f"{run_label}.n"] == n
    baseline, cda = _row(agreeing, "pretrain/baseline", "bias_gap"), _row(agreeing, "pretrain/cda", "bias_gap")
    assert baseline["delta"] == pytest.approx(0.2 - 1.6) and baseline["cis_disjoint"] is True
    assert cda["delta"] == pytest.approx(0.01) and cda["cis_disjoint"] is False
    assert len(agreeing.table) == len(FIRST)
    assert not _row(agreeing, "pretrain/cda", "cladder_gen/accuracy/rung=3")["headline"]


def test_no_warnings_when_scorers_and_data_agree(agreeing):
    assert agreeing.warnings == []


def test_differing_benchmark_data_hash_is_named(store):
    comparison = compare(load_runs(store["tracker"]("hash")))
    assert len(comparison.warnings) == 1, comparison.warnings
    warning = comparison.warnings[0]
    assert "'data_hash'" in warning and "cladder_gen" in warning and "pretrain/baseline, pretrain/cda" in warning
    assert "c3c3c3c3c3c3" in warning and "e5e5e5e5e5e5" in warning and "cladder_gen/accuracy" in warning


def test_differing_testbed_hash_and_seed_are_warned(store):
    warnings = compare(load_runs(store["tracker"]("testbed"))).warnings
    assert any("data/testbed" in w and "different data" in w and "bias_gap" in w for w in warnings), warnings
    assert any(w.startswith("seed differs") for w in warnings), warnings
    assert not any("'seed'" in w for w in warnings)  # the scorers' seed is the same fact: not repeated per variant
    assert not any("models" in w for w in warnings)


def test_explicit_ids_keep_their_order(store):
    ids = store["ids"]
    runs = load_runs(store["tracker"]("agree"), [ids["second"], ids["old"]])
    assert [r.run_id for r in runs] == [ids["second"], ids["old"]]
    row = _row(compare(runs), "pretrain/baseline", "bias_gap")
    assert row["delta"] == pytest.approx(1.6 - 0.2)


def test_selection_errors(store):
    ids, tracker = store["ids"], store["tracker"]("agree")
    with pytest.raises(ValueError, match=r"1 finished lifecycle run\(s\) \(1 more failed"):
        load_runs(store["tracker"]("single"))
    with pytest.raises(LookupError, match="run 'deadbeef' not found"):
        load_runs(tracker, [ids["first"], "deadbeef"])
    with pytest.raises(ValueError, match=f"child run; pass its parent lifecycle run '{ids['second']}'"):
        load_runs(tracker, [ids["first"], ids["child"]])
    with pytest.raises(ValueError, match="given twice"):
        load_runs(tracker, [ids["first"], ids["first"]])
    with pytest.raises(LookupError, match="'nope' not found.*known: .*agree"):
        run_comparison(store["uri"], "nope", None, store["tmp"] / "never")


def test_rows_fall_back_to_child_runs_without_results_json(store):
    comparison = compare(load_runs(store["tracker"]("fallback")))
    first, second = comparison.labels
    assert comparison.runs[1].source == "child runs"
    assert any("no readable results/results.json" in w for w in comparison.warnings)
    for (variant, _, metric), (value, low, high, _) in SECOND.items():
        row = _row(comparison, variant, metric)  # names recovered, including rung=3 and causal_acc_rung1/direct
        assert (row[f"{second}.value"], row[f"{second}.ci_low"], row[f"{second}.ci_high"]) == (value, low, high)
        assert pd.isna(row[f"{second}.n"])
    assert len(comparison.table) == len(FIRST)


def test_metric_names_are_recovered_from_mlflow_keys_when_no_run_has_results_json(store):
    comparison = compare(load_runs(store["tracker"]("bare")))
    assert set(zip(comparison.table["variant"], comparison.table["metric"], strict=True)) == {
        (v, m) for v, _, m in FIRST
    }
    assert len(comparison.warnings) == 2  # one per run, no provenance warnings


def test_rows_missing_from_one_run_are_summarised_in_one_note_per_run(agreeing):
    first, second = agreeing.runs
    rows = tuple(r for r in second.rows if r["variant"] != "data/original" and r["metric"] != "perplexity")
    comparison = compare([first, replace(second, rows=rows)])
    assert comparison.warnings == []
    lacking = [n for n in comparison.notes if n.startswith("run ")]
    assert lacking == [
        f"run {comparison.labels[1]} lacks variant(s) data/original and 1 metric(s) other runs have (perplexity)."
    ]
    row = _row(comparison, "pretrain/cda", "perplexity")
    assert pd.isna(row["delta"]) and pd.isna(row["cis_disjoint"])
    assert "perplexity" in format_comparison(comparison)


def test_format_comparison_is_a_table_with_warnings(store):
    comparison = compare(load_runs(store["tracker"]("hash")))
    text = format_comparison(comparison)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("variant"))
    assert "[1] value [95% CI]" in header and "CIs disjoint" in header
    baseline = next(line for line in lines if line.startswith("pretrain/baseline") and " bias_gap " in line)
    assert "1.6000 [1.5000, 1.7000]" in baseline and "0.2000 [0.1000, 0.3000]" in baseline
    assert "-1.4000" in baseline and baseline.rstrip().endswith("yes")
    assert "rung=3" not in text and "rung=3" in format_comparison(comparison, headline_only=False)
    assert sum(line.startswith("WARNING: ") for line in lines) == 1


def test_write_comparison_files_and_plots(agreeing, tmp_path):
    paths = write_comparison(agreeing, tmp_path)
    names = {p.name for p in paths}
    assert {"comparison.csv", "comparison.txt", "comparison.json", "bias_gap.png", "perplexity.png"} <= names
    assert {"cladder_gen__accuracy.png", "cladder_gen__accuracy_by_rung.png", "stereotype_share.png"} <= names
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    assert (tmp_path / "cladder_gen__accuracy_by_rung.png").stat().st_size > 5000
    csv = pd.read_csv(tmp_path / "comparison.csv")
    assert len(csv) == len(FIRST) and "cladder_gen/accuracy/rung=2" in set(csv["metric"])
    saved = json.loads((tmp_path / "comparison.json").read_text())
    assert [r["run_id"] for r in saved["runs"]] == [r.run_id for r in agreeing.runs]
    assert saved["warnings"] == [] and len(saved["rows"]) == len(FIRST)
    assert "WARNING" not in (tmp_path / "comparison.txt").read_text()


def test_stale_plots_of_an_earlier_comparison_are_removed(agreeing, tmp_path):
    earlier = replace(agreeing, table=agreeing.table[agreeing.table["metric"].isin(["bias_gap", "perplexity"])])
    write_comparison(earlier, tmp_path)
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"not the comparison's")
    write_comparison(replace(earlier, table=earlier.table[earlier.table["metric"] == "bias_gap"]), tmp_path)
    assert not (tmp_path / "perplexity.png").exists() and (tmp_path / "bias_gap.png").exists() and mine.exists()


def test_run_comparison_logs_a_compare_run(store, tmp_path):
    comparison, paths, run_id = run_comparison(store["uri"], "hash", None, tmp_path / "out")
    tracker = store["tracker"]("hash")
    run = tracker.get_run(run_id)
    assert run["run_name"] == "compare" and run["status"] == "FINISHED"
    assert run["tags"]["causal_llm.run_type"] == "compare" and run["tags"]["compare.warnings"] == "1"
    assert run["tags"]["compared_runs"] == ",".join(r.run_id for r in comparison.runs)
    logged = {Path(f.path).name for f in tracker.client.list_artifacts(run_id, "comparison")}
    assert logged == {p.name for p in paths} and "cladder_gen__accuracy_by_rung.png" in logged
    assert load_runs(tracker)[1].run_id == comparison.runs[1].run_id  # the compare run is not a lifecycle run
    assert run_comparison(store["uri"], "hash", None, tmp_path / "again", log=False)[2] is None
