"""The lifecycle's answer: one table of variant x metric with CIs, as JSON, CSV, text and a plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from causal_llm.corpus import write_json
from causal_llm.metrics import MetricRow, is_headline, spec_for


def format_deltas(rows: Sequence[MetricRow]) -> str:
    """The headline: each causal variant minus its declared baseline on the same items."""
    picked = [r for r in rows if r.baseline is not None and is_headline(r.metric)]
    if not picked:
        return ""
    vw = max(7, *(len(r.variant) for r in picked))
    mw = max(6, *(len(r.metric) for r in picked))
    lines = [
        "Paired differences: variant - its baseline on the same items (a CI covering 0: no difference detected)",
        f"{'variant - baseline':<{vw}}  {'metric':<{mw}} {'delta':>9}  {'95% CI':<21} {'n':>5} "
        f"{'McNemar p':>9}  interval",
    ]
    for r in picked:
        p = "" if r.p_value is None else f"{r.p_value:.3g}"
        lines.append(
            f"{r.variant:<{vw}}  {r.metric:<{mw}} {r.value:>+9.4f}  "
            f"[{r.ci_low:>+8.4f}, {r.ci_high:>+8.4f}] {r.n:>5} {p:>9}  {r.interval}"
        )
    return "\n".join(lines) + "\n\n"


def format_table(rows: Sequence[MetricRow | dict]) -> str:
    frame = pd.DataFrame([r.to_dict() if isinstance(r, MetricRow) else r for r in rows])
    vw, mw = max(7, frame["variant"].str.len().max()), max(6, frame["metric"].str.len().max())
    lines = [f"{'variant':<{vw}}  {'metric':<{mw}} {'value':>9}  {'95% CI':<21} {'n':>5}"]
    for r in frame.itertuples():
        lines.append(
            f"{r.variant:<{vw}}  {r.metric:<{mw}} {r.value:>9.4f}  [{r.ci_low:>8.4f}, {r.ci_high:>8.4f}] {r.n:>5}"
        )
    return "\n".join(lines)


def plot_metric(rows: Sequence[MetricRow], metric: str, path: Path, ideal: float | None = None) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")  # no display here or on servers
    import matplotlib.pyplot as plt

    chosen = [r for r in rows if r.metric == metric and r.baseline is None]
    if not chosen:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(chosen) + 1.5))
    y = range(len(chosen))
    ax.errorbar(
        [r.value for r in chosen],
        y,
        xerr=[[r.value - r.ci_low for r in chosen], [r.ci_high - r.value for r in chosen]],
        fmt="o",
        capsize=4,
    )
    ax.set_yticks(list(y), [r.variant for r in chosen])
    if ideal is not None:
        ax.axvline(ideal, color="grey", linestyle="--", label=f"ground truth ({ideal:g})")
        ax.legend(loc="best")
    ax.set_xlabel(f"{metric} (95% bootstrap CI)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


BREAKDOWN_KEYS = ("rung", "query_type", "variant", "relation", "bias_type")  # plotted; all are in the CSV


def plot_breakdown(
    rows: Sequence[MetricRow], metric: str, key: str, path: Path, chance: float | None = None
) -> Path | None:
    """Grouped bars of ``metric`` per value of ``key`` (e.g. CLadder accuracy per rung), one bar per
    variant, with 95% bootstrap CIs as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prefix = f"{metric}/{key}="
    chosen = [r for r in rows if r.metric.startswith(prefix)]
    if not chosen:
        return None
    groups = sorted({r.metric.removeprefix(prefix) for r in chosen})
    variants = list(dict.fromkeys(r.variant for r in chosen))
    width = 0.8 / len(variants)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups) * max(1, len(variants) / 3)), 4))
    for i, variant in enumerate(variants):
        by_group = {r.metric.removeprefix(prefix): r for r in chosen if r.variant == variant}
        xs = [g + i * width - 0.4 + width / 2 for g in range(len(groups)) if groups[g] in by_group]
        picked = [by_group[g] for g in groups if g in by_group]
        ax.bar(
            xs,
            [r.value for r in picked],
            width,
            yerr=[[r.value - r.ci_low for r in picked], [r.ci_high - r.value for r in picked]],
            capsize=2,
            label=variant,
        )
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", label=f"chance ({chance:g})")
    ax.set_xticks(range(len(groups)), [f"{key}={g}" for g in groups], rotation=30 if len(groups) > 4 else 0)
    ax.set_ylabel(f"{metric} (95% bootstrap CI)")
    ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def references(spurious_strength: float) -> str:
    """What a bias_gap or region_gap value is to be read against, for this corpus."""
    import math

    s = spurious_strength
    corpus = math.log(s / (1 - s)) if 0 < s < 1 else float("inf")
    return (
        f"References: bias_gap and region_gap, the corpus's own association ln(s/(1-s)) = {corpus:.3f} at "
        f"s = {s:g} (what a model that fits its corpus scores); the causal truth, 0. Two-sided CDA reaches 0 on "
        "its swapped words by construction: read the unseen-template, unseen-occupation, unseen-name and "
        "region rows for what it does beyond them.\n"
    )


def write_report(rows: Sequence[MetricRow], out_dir: Path, notes: str = "") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    records = [r.to_dict() for r in rows]
    paths = [write_json(out_dir / "results.json", records)]
    pd.DataFrame(records).to_csv(out_dir / "results.csv", index=False)
    per_variant = [r for r in rows if is_headline(r.metric) and r.baseline is None]
    (out_dir / "results.txt").write_text(format_deltas(rows) + format_table(per_variant) + "\n" + notes)
    paths += [out_dir / "results.csv", out_dir / "results.txt"]
    headline = list(dict.fromkeys(r.metric for r in rows if is_headline(r.metric)))
    for metric in headline:  # bias metrics, each against the value an unbiased model has
        spec = spec_for(metric)
        if spec is not None and spec.ideal is not None:
            paths.append(plot_metric(rows, metric, out_dir / f"{metric.replace('/', '__')}.png", spec.ideal))
    for metric in headline:  # breakdowns: accuracy per rung, F1 per relation, ...
        spec = spec_for(metric)
        for key in BREAKDOWN_KEYS:
            name = f"{metric.replace('/', '__')}_by_{key}.png"
            paths.append(plot_breakdown(rows, metric, key, out_dir / name, spec.chance if spec else None))
    return [p for p in paths if p is not None]


def model_pairs(lc: Any) -> list[tuple[str, str, list[tuple[int, Any, Any]]]]:
    """(variant id, baseline id, [(seed, variant model, baseline model), ...]) for every model variant
    that declares a baseline; a seed the baseline lacks pairs with the baseline's first seed."""
    out = []
    for v in lc.params.variants():
        if v.baseline is None or v.stage not in ("pretrain", "finetune", "align"):
            continue
        base_id = f"{v.stage}/{v.baseline}"
        base_replicas = dict(lc.replicas_of(base_id))
        first = lc.replicas_of(base_id)[0][1]
        pairs = [(seed, lc.model(rid), lc.model(base_replicas.get(seed, first))) for seed, rid in lc.replicas_of(v.id)]
        out.append((v.id, base_id, pairs))
    return out


def delta_label(variant_id: str, baseline_id: str) -> str:
    """A difference row's variant column: its own key in the table and in ``compare``."""
    return f"{variant_id} - {baseline_id}"


def _steps(model: Any) -> float | None:
    """Optimiser steps a lifecycle model was trained for (its training summary), None for others."""
    from causal_llm.corpus import read_json
    from causal_llm.dag import metrics_file

    if model.node is None or not metrics_file(model.node).is_file():
        return None
    return read_json(metrics_file(model.node)).get("steps")


def _compute_note(model: Any, base: Any) -> str:
    mine, theirs = _steps(model), _steps(base)
    if mine is None or theirs is None or mine == theirs:
        return ""
    return f"; compute not matched: {mine:g} vs {theirs:g} optimiser steps"


def delta_rows(lc: Any, read_items: Any) -> list[MetricRow]:
    """Paired differences to the declared baseline on the same items, per seed (``.../seed=S``
    breakdown rows, item-level paired CIs) and over seeds (``seed_row``); a pair trained for
    different optimiser steps says so in its interval column. Inference variants: per model."""
    from causal_llm.metrics import delta_row, seed_row

    kw = lc.params.evaluate.bootstrap_args(lc.params.seed)
    confidence = lc.params.evaluate.confidence
    out: list[MetricRow] = []
    for variant_id, base_id, pairs in model_pairs(lc):
        label = delta_label(variant_id, base_id)
        per_metric: dict[str, list[MetricRow]] = {}
        for seed, model, base in pairs:
            mine, theirs = read_items(model), read_items(base)
            note = _compute_note(model, base)
            for metric, items in mine.items():
                if metric in theirs and theirs[metric].item_ids == items.item_ids:
                    row = delta_row(items, theirs[metric], label, base_id, model.stage, **kw)
                    row = MetricRow(**{**row.to_dict(), "interval": row.interval + note})
                    per_metric.setdefault(metric, []).append(row)
                    out.append(_renamed(row, f"{metric}/seed={seed}"))
        for metric, rows in per_metric.items():
            bounds = (-1.0, 1.0) if mine[metric].kind == "proportion" else None
            out.append(rows[0] if len(rows) == 1 else seed_row(rows, label, confidence, bounds))
    return out + infer_delta_rows(lc, kw)


def infer_delta_rows(lc: Any, kw: dict[str, Any]) -> list[MetricRow]:
    """An inference variant against its baseline (causal_graph vs direct): accuracy on the same
    questions, per model, paired, with McNemar's exact p."""
    import json

    from causal_llm.dag import infer_dir
    from causal_llm.metrics import ItemValues, delta_row

    out: list[MetricRow] = []
    for v in lc.params.variants("infer"):
        if v.baseline is None:
            continue
        base_id = f"infer/{v.baseline}"

        def answers(node_id: str) -> dict[str, list[dict]]:
            path = infer_dir(node_id) / "answers.jsonl"
            by_model: dict[str, list[dict]] = {}
            for line in path.read_text().splitlines() if path.is_file() else []:
                if line.strip():
                    a = json.loads(line)
                    by_model.setdefault(a["model"], []).append(a)
            return by_model

        mine, theirs = answers(v.id), answers(base_id)
        for model, rows in mine.items():
            other = theirs.get(model)
            if not other or [a["question_id"] for a in other] != [a["question_id"] for a in rows]:
                continue

            def items(answered: list[dict]) -> ItemValues:
                ids = [a["question_id"] for a in answered]
                return ItemValues("accuracy", [float(a["correct"]) for a in answered], {}, "proportion", item_ids=ids)

            row = delta_row(items(rows), items(other), delta_label(v.id, base_id), base_id, "infer", **kw)
            out.append(_renamed(row, f"{model}/accuracy"))
    return out


def seed_mean_rows(rows: list[MetricRow], lc: Any) -> list[MetricRow]:
    """Variants trained at 2 or more seeds: each replica's rows are renamed ``<id>@seed=S`` and the
    variant's own rows become the mean over seeds with a between-seed t-interval."""
    from causal_llm.metrics import seed_row

    label_of: dict[str, tuple[str, int]] = {}
    for v in lc.params.variants():
        replicas = lc.replicas_of(v.id)
        if len(replicas) >= 2:
            label_of.update({rid: (v.id, seed) for seed, rid in replicas})
    if not label_of:
        return rows
    grouped: dict[tuple[str, str], list[MetricRow]] = {}
    for r in rows:
        if r.variant in label_of and r.baseline is None:
            grouped.setdefault((label_of[r.variant][0], r.metric), []).append(r)
    out = []
    for r in rows:  # a metric only one seed has (inference runs at the first seed) keeps its label
        key = (label_of[r.variant][0], r.metric) if r.variant in label_of and r.baseline is None else None
        if key is not None and len(grouped[key]) >= 2:
            out.append(MetricRow(**{**r.to_dict(), "variant": f"{key[0]}@seed={label_of[r.variant][1]}"}))
        elif key is not None:
            out.append(MetricRow(**{**r.to_dict(), "variant": key[0]}))
        else:
            out.append(r)
    confidence = lc.params.evaluate.confidence
    means = [
        seed_row(g, v, confidence, (0.0, 1.0) if g[0].interval.startswith("clopper") else None)
        for (v, _), g in grouped.items()
        if len(g) >= 2
    ]
    return means + out


def _renamed(row: MetricRow, metric: str) -> MetricRow:
    return MetricRow(**{**row.to_dict(), "metric": metric})


def collect_rows(lc: Any) -> list[MetricRow]:
    """The rows of every data, inference and evaluation node, in DAG order; a reference row that every
    evaluation repeats (the exact Corr2Cause solver) is kept once."""
    from causal_llm.corpus import read_json

    rows: list[MetricRow] = []
    seen: set[tuple[str, str]] = set()
    for node_id in lc.by_id["report"].upstream:
        node = lc.by_id[node_id]
        for out in node.outs:
            if not out.metric:
                continue
            for r in read_json(out.path)["rows"]:
                if (r["variant"], r["metric"]) not in seen:
                    seen.add((r["variant"], r["metric"]))
                    rows.append(MetricRow(**r))
    # Grouped by what they describe: data variants, then each model (evaluation before inference
    # rows), then reference rows such as the exact solver's.
    order = [v.id for v in lc.params.variants("data")] + [m.label for m in lc.models]
    rank = {name: i for i, name in enumerate(order)}
    rows = sorted(rows, key=lambda r: rank.get(r.variant, len(rank)))
    from causal_llm.evaluate.stage import testbed_item_values

    return delta_rows(lc, testbed_item_values) + seed_mean_rows(rows, lc)


def run_report(node: Any, lc: Any) -> None:
    paths = write_report(collect_rows(lc), Path(node.outs[0].path), references(lc.params.data.spurious_strength))
    print(f"report: {len(paths)} files in {node.outs[0].path}", flush=True)
