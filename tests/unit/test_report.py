"""The results table as JSON, CSV, text and a plot."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from causal_llm.evaluate.report import format_table, plot_metric, write_report
from causal_llm.metrics import MetricRow

ROWS = [
    MetricRow("baseline", "pretrain", "bias_gap", 1.25, 1.0, 1.5, 32),
    MetricRow("cda", "pretrain", "bias_gap", 0.125, -0.05, 0.3, 32),
    MetricRow("causal", "align", "bias_gap", -0.02, -0.1, 0.06, 32),
    MetricRow("baseline", "pretrain", "perplexity", 7.5, 7.0, 8.0, 100),
    MetricRow("cda", "pretrain", "cf_flip_rate", 0.1, 0.05, 0.2, 64),
]
KEYS = {"variant", "stage", "metric", "value", "ci_low", "ci_high", "n", "interval", "baseline", "p_value"}


def test_write_report_writes_every_format(tmp_path):
    out = tmp_path / "reports" / "evaluate"
    paths = write_report(ROWS, out)
    names = {p.name for p in paths}
    assert {"results.json", "results.csv", "results.txt", "bias_gap.png", "cf_flip_rate.png"} == names
    assert "stereotype_share.png" not in names  # no rows of that metric: no plot
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)

    records = json.loads((out / "results.json").read_text())
    assert isinstance(records, list) and len(records) == len(ROWS)
    assert all(set(r) == KEYS for r in records)
    assert records[0] == {
        "variant": "baseline",
        "stage": "pretrain",
        "metric": "bias_gap",
        "value": 1.25,
        "ci_low": 1.0,
        "ci_high": 1.5,
        "n": 32,
        "interval": "bootstrap",
        "baseline": None,
        "p_value": None,
    }

    frame = pd.read_csv(out / "results.csv")
    assert set(frame.columns) == KEYS
    assert list(frame["variant"]) == [r.variant for r in ROWS]
    assert list(frame["value"]) == pytest.approx([r.value for r in ROWS])

    text = (out / "results.txt").read_text()
    assert text == format_table(ROWS) + "\n"
    assert (out / "bias_gap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_format_table_has_every_row():
    table = format_table(ROWS)
    lines = table.splitlines()
    assert len(lines) == len(ROWS) + 1
    assert lines[0].split()[:3] == ["variant", "metric", "value"]
    for row, line in zip(ROWS, lines[1:], strict=True):
        assert line.split()[0] == row.variant
        assert row.metric in line
        assert f"{row.value:.4f}" in line
        assert f"{row.ci_low:.4f}" in line and f"{row.ci_high:.4f}" in line
        assert line.rstrip().endswith(str(row.n))
    for variant in ("baseline", "cda", "causal"):
        assert variant in table


def test_format_table_accepts_dicts():
    assert format_table([r.to_dict() for r in ROWS]) == format_table(ROWS)


def test_plot_metric_without_rows_returns_none(tmp_path):
    assert plot_metric(ROWS, "stereotype_share", tmp_path / "x.png") is None
    assert not (tmp_path / "x.png").exists()
    assert plot_metric(ROWS, "perplexity", tmp_path / "p.png") == tmp_path / "p.png"
    assert (tmp_path / "p.png").stat().st_size > 0


def test_paired_differences_per_seed_and_over_seeds(tmp_path, monkeypatch):
    """pretrain/cda (3 seeds) against its declared baseline: one paired row per seed, a headline row
    with a t-interval over seeds; replicas' own rows are renamed and the variant's row is the seed mean."""
    import copy
    from pathlib import Path

    import yaml

    from causal_llm.config import deep_merge
    from causal_llm.corpus import write_json
    from causal_llm.dag import Lifecycle, evaluate_dir
    from causal_llm.evaluate.report import delta_rows, seed_mean_rows
    from causal_llm.evaluate.stage import TESTBED_ITEMS, testbed_item_values
    from causal_llm.metrics import ItemValues, items_row
    from causal_llm.params import params_from_dict

    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    raw = deep_merge(copy.deepcopy(raw), {"pretrain": {"variants": {"cda": {"baseline": "baseline"}}}})
    lc = Lifecycle(params_from_dict(raw, "params.yaml", "default"))
    monkeypatch.chdir(tmp_path)
    gaps = {"pretrain/baseline": 2.0, "pretrain/cda": 0.5}
    rows = []
    for (variant, gap), seed in ((v, s) for v in gaps.items() for s in (0, 1, 2)):
        rid = variant if seed == 0 else f"{variant}-s{seed}"
        values = [gap + 0.1 * seed + 0.01 * i for i in range(8)]
        items = ItemValues("bias_gap", values, {"occupation": [str(i % 4) for i in range(8)]})
        write_json(evaluate_dir(lc.model(rid)) / "items" / TESTBED_ITEMS, {"metrics": [items.to_dict()]})
        rows.append(items_row(items, rid, "pretrain", n_resamples=100))

    def read(model):  # only the pre-training models were "evaluated" here
        return testbed_item_values(model) if (evaluate_dir(model) / "items").is_dir() else {}

    deltas = [r for r in delta_rows(lc, read) if r.variant == "pretrain/cda - pretrain/baseline"]
    assert [r.metric for r in deltas] == ["bias_gap/seed=0", "bias_gap/seed=1", "bias_gap/seed=2", "bias_gap"]
    per_seed, headline = deltas[:3], deltas[3]
    assert all(r.value == pytest.approx(-1.5) and r.interval.startswith("paired") for r in per_seed)
    assert headline.value == pytest.approx(-1.5) and headline.interval == "t over 3 seeds" and headline.n == 3
    assert headline.baseline == "pretrain/baseline"
    renamed = seed_mean_rows(rows, lc)
    labels = [r.variant for r in renamed]
    assert "pretrain/cda@seed=2" in labels and "pretrain/cda-s2" not in labels
    mean = next(r for r in renamed if r.variant == "pretrain/cda")
    assert mean.value == pytest.approx(0.5 + 0.1 + 0.035) and mean.interval == "t over 3 seeds"
    assert "Paired differences" in (write_report([*deltas, *renamed], tmp_path / "out")[2]).read_text()
