"""Loading benchmarks by name or file, format guessing, and the ``causal-llm evaluate`` contract."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from causal_llm.benchmarks import BenchmarkFormatError
from causal_llm.benchmarks.runner import evaluate_benchmark, headline, load_benchmark

CROWS = [
    ("The nurse said that she was ready for work.", "The nurse said that he was ready for work.", "gender"),
    ("The pilot said that he liked the new job.", "The pilot said that she liked the new job.", "gender"),
    ('He said "hi, café" then left.', 'She said "hi, café" then left.', "gender"),
    ("The mechanic said that he was happy.", "The mechanic said that she was happy.", "race-color"),
]


def write_crows(path: Path, rows=CROWS, extra_bad: bool = False) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "sent_more", "sent_less", "stereo_antistereo", "bias_type"])
        for i, (more, less, bias) in enumerate(rows):
            writer.writerow([i, more, less, "stereo", bias])
        if extra_bad:
            writer.writerow([99, "", "missing sentence", "stereo", "gender"])
    return path


def write_copa(path: Path) -> Path:
    rows = [
        {"premise": "The nurse was tired.", "choice1": "She slept.", "choice2": "She ran.", "question": "effect"},
        {"premise": "The pilot smiled.", "choice1": "He got the job.", "choice2": "He lost.", "question": "cause"},
    ]
    path.write_text("".join(json.dumps({**r, "label": i % 2, "idx": i}) + "\n" for i, r in enumerate(rows)))
    return path


def test_the_format_of_a_file_is_guessed(tmp_path):
    crows = load_benchmark(str(write_crows(tmp_path / "pairs.csv")))
    assert (crows.format, len(crows.items), crows.name) == ("crows_pairs", 4, "pairs.csv")
    copa = load_benchmark(str(write_copa(tmp_path / "val.jsonl")))
    assert copa.format == "copa" and copa.items[0].context.endswith("therefore")
    assert len(crows.data_hash) == 64 and crows.data_hash != copa.data_hash


def test_format_prefix_and_explicit_format(tmp_path):
    path = write_crows(tmp_path / "pairs.csv")
    assert load_benchmark(f"crows_pairs:{path}").format == "crows_pairs"
    with pytest.raises(BenchmarkFormatError, match="not a copa file"):
        load_benchmark(str(path), "copa")
    with pytest.raises(KeyError, match="Did you mean 'crows_pairs'"):
        load_benchmark(str(path), "crow_pairs")


def test_an_unreadable_file_names_what_was_tried(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(BenchmarkFormatError, match=r"could not tell its format; tried .*crows_pairs.*--format"):
        load_benchmark(str(path))


def test_missing_file_and_ungenerated_named_benchmark(tmp_path):
    with pytest.raises(BenchmarkFormatError, match="no such file"):
        load_benchmark(str(tmp_path / "nope.csv"))
    with pytest.raises(BenchmarkFormatError, match="dvc repro benchmarks"):
        load_benchmark("cladder_gen", root=tmp_path)


def test_malformed_rows_are_counted_or_fatal(tmp_path, capsys):
    path = write_crows(tmp_path / "pairs.csv", extra_bad=True)
    loaded = load_benchmark(str(path))
    assert len(loaded.items) == 4 and len(loaded.malformed) == 1
    assert "pairs.csv:6" in capsys.readouterr().err
    with pytest.raises(BenchmarkFormatError, match=r"pairs\.csv:6: .*--strict"):
        load_benchmark(str(path), strict=True)


def test_limit_keeps_the_first_items_or_a_seeded_sample(tmp_path):
    path = str(write_crows(tmp_path / "pairs.csv", rows=CROWS * 5))
    assert [i.id for i in load_benchmark(path, limit=3).items] == [i.id for i in load_benchmark(path).items[:3]]
    sample = [i.id for i in load_benchmark(path, limit=5, sample_seed=1).items]
    assert sample == [i.id for i in load_benchmark(path, limit=5, sample_seed=1).items]
    assert sample != [i.id for i in load_benchmark(path).items[:5]]


def test_metrics_carry_scorer_and_definition(tmp_path, make_tiny_model, tiny_tokenizer):
    bench = load_benchmark(str(write_crows(tmp_path / "pairs.csv")))
    result = evaluate_benchmark(make_tiny_model(), tiny_tokenizer, bench, "tiny", "tiny", "evaluate", 4, 0, 200)
    rows = {m["metric"]: m for m in result.metrics}
    assert {"crows_pairs/pct_stereotype", "crows_pairs/likelihood_diff"} <= set(rows)
    assert "crows_pairs/pct_stereotype/bias_type=race-color" in rows
    top = rows["crows_pairs/pct_stereotype"]
    assert top["scorer"]["data_hash"] == bench.data_hash and top["scorer"]["batch_size"] == 4
    assert top["scorer"]["dtype"] == "float32" and "LL(sent_more)" in top["definition"]
    assert rows["crows_pairs/pct_stereotype/bias_type=race-color"]["definition"] == top["definition"]
    assert len(result.items) == 4 and all(len(r["loglikelihoods"]) == 2 for r in result.items)
    assert {m["metric"] for m in headline(result.metrics)} == {
        "crows_pairs/pct_stereotype",
        "crows_pairs/likelihood_diff",
    }


def test_cli_evaluate_writes_metrics_items_and_prints_a_table(tmp_path, base_model_dir, capsys):
    crows = write_crows(tmp_path / "pairs.csv", extra_bad=True)
    copa = write_copa(tmp_path / "copa.jsonl")
    out = tmp_path / "out" / "result.json"
    args = ["evaluate", "--model", str(base_model_dir), "--benchmark", str(crows), "--benchmark", str(copa)]
    code = main([*args, "--batch-size", "3", "--n-bootstrap", "100", "--no-progress", "--output", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert [b["format"] for b in result["benchmarks"]] == ["crows_pairs", "copa"]
    assert result["benchmarks"][0]["malformed"] and len(result["benchmarks"][0]["items"]) == 4
    printed = capsys.readouterr().out
    assert "crows_pairs/pct_stereotype" in printed and "copa/accuracy" in printed and "requests/s" in printed


def test_cli_evaluate_rejects_bad_input_before_loading_the_model(tmp_path, capsys):
    out = tmp_path / "result.json"
    out.write_text("keep me")
    bad = tmp_path / "notes.csv"
    bad.write_text("a,b\n1,2\n")
    code = main(["evaluate", "--model", str(tmp_path / "no-model"), "--benchmark", str(bad), "--output", str(out)])
    assert code == 2
    assert "could not tell its format" in capsys.readouterr().err
    assert out.read_text() == "keep me"


def test_stratified_sample_keeps_every_stratum_in_file_order():
    from causal_llm.benchmarks import Item
    from causal_llm.benchmarks.runner import stratified_sample

    items = [Item(str(i), "", (" a", " b"), 0, {"graph_id": "chain" if i < 90 else f"g{i % 3}"}) for i in range(100)]
    sample = stratified_sample(items, 8, seed=3)
    assert len(sample) == 8 and {i.meta["graph_id"] for i in sample} == {"chain", "g0", "g1", "g2"}
    assert [int(i.id) for i in sample] == sorted(int(i.id) for i in sample)
    assert [i.id for i in stratified_sample(items, 8, seed=3)] == [i.id for i in sample]
    assert [i.id for i in stratified_sample(items, 8, seed=4)] != [i.id for i in sample]


def test_testbed_probe_file_reads_and_scores(tmp_path, capsys):
    from causal_llm.benchmarks import FORMATS
    from causal_llm.benchmarks.testbed import probe_rows
    from causal_llm.testbed import bias_probes

    rows = probe_rows(bias_probes())
    lines = [json.dumps(r) for r in rows[:3]] + ['{"context": "The nurse said that"}', "not json"]
    path = tmp_path / "probes.jsonl"
    path.write_text("\n".join(lines) + "\n")
    bench = load_benchmark(str(path), "testbed")
    assert len(bench.items) == 3 and len(bench.malformed) == 2
    assert bench.items[0].choices == (rows[0]["stereotype"], rows[0]["anti_stereotype"])
    lls = [np.array([-1.0, -3.0]), np.array([-2.0, -1.0]), np.array([-1.0, -2.0])]
    got = {r.metric: r.value for r in FORMATS.get("testbed").metrics(bench.items, lls, "v", "s", n_resamples=100)}
    assert got["testbed/bias_gap"] == pytest.approx((2.0 - 1.0 + 1.0) / 3)
    assert got["testbed/stereotype_preference"] == pytest.approx(2 / 3)
    with pytest.raises(BenchmarkFormatError, match="not a testbed file"):
        load_benchmark(str(write_copa(tmp_path / "copa.jsonl")), "testbed")
