"""One model's evaluation node: the testbed's bias, invariance and perplexity, and every benchmark
in ``evaluate.benchmarks``, each metric with a bootstrap CI; per-item tables beside the results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from causal_llm.corpus import write_json, write_jsonl
from causal_llm.dag import Lifecycle, Model, Node, evaluate_dir
from causal_llm.data.stage import log, read_heldout_units, read_stories
from causal_llm.metrics import ItemValues, MetricRow
from causal_llm.timing import timed

TESTBED_ITEMS = "testbed.json"  # per-item values of the testbed metrics: the report's paired differences


def item_table(model: Model, benchmark: str) -> Path:
    """Per-item results of one benchmark for one model (an MLflow artifact of its evaluate run)."""
    return evaluate_dir(model) / "items" / f"{benchmark}.jsonl"


def testbed_item_values(model: Model) -> dict[str, ItemValues]:
    """Per-item values of one model's testbed metrics and of every benchmark's accuracy (CLadder
    items clustered by their causal model): what paired differences are computed from."""
    import json

    from causal_llm.corpus import read_json

    items = evaluate_dir(model) / "items"
    out = {m["metric"]: ItemValues.from_dict(m) for m in read_json(items / TESTBED_ITEMS)["metrics"]}
    for table in sorted(items.glob("*.jsonl")):
        records = [json.loads(line) for line in table.read_text().splitlines() if line.strip()]
        if not records or any("correct" not in r for r in records):
            continue
        clusters = {}
        if all(r.get("meta.model_id") is not None for r in records):
            clusters["model_id"] = [str(r["meta.model_id"]) for r in records]
        metric = f"{table.stem}/accuracy"
        correct = [float(r["correct"]) for r in records]
        out[metric] = ItemValues(metric, correct, clusters, "proportion", item_ids=[str(r["id"]) for r in records])
    return out


def testbed_sets(params: Any) -> Any:
    """The probes, balanced judgements and held-out stories one evaluation scores."""
    from causal_llm import testbed
    from causal_llm.evaluate.testbed_metrics import EvalSets

    cfg, seed = params.evaluate, params.seed
    units = read_heldout_units()
    return EvalSets(
        testbed.bias_probes(units),
        testbed.unseen_template_probes(),
        testbed.unseen_occupation_probes(),
        testbed.region_probes(units),
        testbed.evaluation_judgements(cfg.n_invariance, units, seed),
        testbed.evaluation_judgements(cfg.n_invariance, units, seed, unseen_names=True),
        list(read_stories("heldout")["text"].iloc[: cfg.n_heldout]),
    )


def evaluate_one(model: Model, params: Any) -> dict[str, Any]:
    import torch

    from causal_llm.benchmarks.runner import evaluate_benchmark, load_benchmark
    from causal_llm.evaluate.testbed_metrics import evaluate_model
    from causal_llm.models.loading import describe_model, load_model, load_tokenizer

    cfg, seed = params.evaluate, params.seed
    benches = [load_benchmark(b, limit=cfg.benchmark_limit, sample_seed=seed) for b in cfg.benchmarks]
    sets = testbed_sets(params)
    net, tokenizer = load_model(model.ref), load_tokenizer(model.ref)
    with timed("compute", f"evaluate/{model.label}"):
        rows, items = evaluate_model(model.label, model.stage, net, tokenizer, sets, cfg, seed)
        write_json(evaluate_dir(model) / "items" / TESTBED_ITEMS, {"metrics": [i.to_dict() for i in items]})
        param = next(net.parameters())
        scorer = {
            "model": describe_model(model.ref),
            "dtype": str(param.dtype),
            "device": str(param.device),
            "batch_size": cfg.batch_size,
            "seed": seed,
            "torch": torch.__version__,
        }
        benchmark_results = []
        for bench in benches:
            result = evaluate_benchmark(
                net, tokenizer, bench, scorer["model"], model.label, model.stage, cfg.batch_size, seed,
                cfg.n_bootstrap, cfg.confidence,
            )  # fmt: skip
            # Rows are named by benchmark (two files of one format stay apart).
            for m in result.metrics:
                metric = f"{bench.name}/{m['metric'].split('/', 1)[1]}"
                if not any(r.variant == m["variant"] and r.metric == metric for r in rows):
                    rows.append(MetricRow(**{**{k: m[k] for k in MetricRow.__dataclass_fields__}, "metric": metric}))
            benchmark_results.append({**result.to_dict(), "variant": model.label, "items": None})
            write_jsonl(item_table(model, bench.name), result.items)
    return {"rows": [r.to_dict() for r in rows], "scorer": scorer, "benchmarks": benchmark_results}


def run(node: Node, lc: Lifecycle) -> None:
    model = lc.model(node.resolved["model"]["ref"])
    results = evaluate_one(model, lc.params)
    write_json(evaluate_dir(model) / "results.json", results)
    gap = next(r for r in results["rows"] if r["metric"] == "bias_gap")
    log(node.id, f"bias_gap {gap['value']:+.3f} [{gap['ci_low']:+.3f}, {gap['ci_high']:+.3f}]")
