"""The lifecycle's answer: one table of variant x metric with CIs, as JSON, CSV, text and a plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from causal_llm.corpus import write_json
from causal_llm.metrics import MetricRow, is_headline, spec_for


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

    chosen = [r for r in rows if r.metric == metric]
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


def write_report(rows: Sequence[MetricRow], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    records = [r.to_dict() for r in rows]
    paths = [write_json(out_dir / "results.json", records)]
    pd.DataFrame(records).to_csv(out_dir / "results.csv", index=False)
    (out_dir / "results.txt").write_text(format_table([r for r in rows if is_headline(r.metric)]) + "\n")
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
    return sorted(rows, key=lambda r: rank.get(r.variant, len(rank)))


def run_report(node: Any, lc: Any) -> None:
    paths = write_report(collect_rows(lc), Path(node.outs[0].path))
    print(f"report: {len(paths)} files in {node.outs[0].path}", flush=True)
