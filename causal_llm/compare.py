"""Experiment comparison: lifecycle runs side by side, with provenance checks.

``causal_llm.ops.compare_runs`` reads the runs back from MLflow: rows from each lifecycle parent
run's ``results/results.json`` (the report's table), scorer and data provenance from its
``evaluate/<model>`` child runs (``scorer.*`` params and ``dvc.dep.*`` tags). A comparison is only
as honest as its inputs agree, so every difference in how a compared metric was produced (scorer,
data hash, seed, profile, CI level) becomes a warning.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from causal_llm.corpus import write_json
from causal_llm.metrics import is_headline, spec_for

ROW_KEYS = ("variant", "stage", "metric", "value", "ci_low", "ci_high", "n")
RESULTS_ARTIFACT = "results/results.json"
# Scorer params that name rather than define the scorer: the model is what a variant *is* (its path
# stays the same across runs), and a data path with the same data_hash is the same data.
SCORER_FIELDS_IGNORED = frozenset({"model", "data"})


@dataclass(frozen=True)
class ComparedRun:
    """One lifecycle parent run as the comparison sees it."""

    run_id: str
    name: str
    start_time: int  # ms since the epoch, as MLflow stores it
    rows: tuple[Mapping[str, Any], ...]
    scorers: Mapping[str, Mapping[str, str]]  # variant -> {"dtype": ..., "cladder_gen.data_hash": ...}
    data_hashes: Mapping[str, Mapping[str, str]]  # variant -> {"data/testbed": md5, ...} (evaluate runs)
    status: str = "FINISHED"
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    source: str = RESULTS_ARTIFACT  # where the rows came from
    warnings: tuple[str, ...] = ()

    @property
    def short_id(self) -> str:
        return self.run_id[:8]

    @property
    def started(self) -> str:
        return datetime.fromtimestamp(self.start_time / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class Comparison:
    """``table``: one row per (variant, metric); per run ``<label>.value|ci_low|ci_high|n`` columns
    (``labels[i]`` belongs to ``runs[i]``), then ``delta`` and ``cis_disjoint`` of the last run
    against the first."""

    runs: list[ComparedRun]
    labels: list[str]
    table: pd.DataFrame
    warnings: list[str]
    notes: list[str]


# --- comparing -----------------------------------------------------------------------------------


def compare(runs: Sequence[ComparedRun]) -> Comparison:
    """One row per (variant, metric) over all runs; delta and the CI-overlap flag are last vs first."""
    runs = list(runs)
    if len(runs) < 2:
        raise ValueError(f"got {len(runs)} run(s); a comparison needs at least 2.")
    labels = [r.short_id for r in runs]
    if len(set(labels)) < len(labels):
        labels = [r.run_id for r in runs]
    indexed = [{(r["variant"], r["metric"]): r for r in run.rows} for run in runs]
    stages: dict[tuple[str, str], str] = {}
    for index in indexed:
        for key, row in index.items():
            stages.setdefault(key, row["stage"])
    variant_rank = {v: i for i, v in enumerate(dict.fromkeys(v for v, _ in stages))}
    keys = sorted(stages, key=lambda k: variant_rank[k[0]])  # stable: metrics keep their first-seen order
    records = []
    for variant, metric in keys:
        record: dict[str, Any] = {
            "variant": variant,
            "stage": stages[(variant, metric)],
            "metric": metric,
            "headline": is_headline(metric),
        }
        for label, index in zip(labels, indexed, strict=True):
            row = index.get((variant, metric), {})
            for col in ("value", "ci_low", "ci_high"):
                record[f"{label}.{col}"] = _num(row.get(col))
            record[f"{label}.n"] = row.get("n")
        first, last = indexed[0].get((variant, metric)), indexed[-1].get((variant, metric))
        record["delta"] = _num(last["value"]) - _num(first["value"]) if first and last else math.nan
        record["cis_disjoint"] = _disjoint(first, last) if first and last else None
        records.append(record)
    columns = ["variant", "stage", "metric", "headline"]
    columns += [f"{label}.{col}" for label in labels for col in ("value", "ci_low", "ci_high", "n")]
    table = pd.DataFrame(records, columns=[*columns, "delta", "cis_disjoint"])
    table["cis_disjoint"] = table["cis_disjoint"].astype("boolean")
    for label in labels:
        table[f"{label}.n"] = pd.to_numeric(table[f"{label}.n"]).astype("Int64")
    warnings = [w for run in runs for w in run.warnings] + _provenance_warnings(runs, labels)
    return Comparison(runs, labels, table, warnings, _notes(runs, labels))


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _disjoint(first: Mapping[str, Any], last: Mapping[str, Any]) -> bool | None:
    lo1, hi1, lo2, hi2 = (_num(first["ci_low"]), _num(first["ci_high"]), _num(last["ci_low"]), _num(last["ci_high"]))
    if any(math.isnan(x) for x in (lo1, hi1, lo2, hi2)):
        return None
    return lo2 > hi1 or hi2 < lo1


def _values(labels: Sequence[str], values: Sequence[str | None]) -> str:
    return " vs ".join(f"{_short(v)} ({label})" for label, v in zip(labels, values, strict=True) if v is not None)


def _short(value: str) -> str:
    """Hashes shortened to 12 characters, as git shows commits; everything else as it is."""
    found = re.fullmatch(r"([0-9a-f]{16,})(\.dir|-dirty)?", value)
    return found[1][:12] + ("-dirty" if found[2] == "-dirty" else "") if found else value


def _differs(values: Sequence[str | None]) -> bool:
    return len({v for v in values if v is not None}) > 1


def _listing(names: Sequence[str], limit: int = 6, sep: str = ", ") -> str:
    names = list(dict.fromkeys(names))
    more = f"{sep}... ({len(names) - limit} more)" if len(names) > limit else ""
    return sep.join(names[:limit]) + more


def _provenance_warnings(runs: Sequence[ComparedRun], labels: Sequence[str]) -> list[str]:
    warnings = []
    for what, values in (
        ("profile", [r.tags.get("profile") or r.params.get("profile") for r in runs]),
        ("seed", [r.params.get("seed") for r in runs]),
        ("evaluate.confidence", [r.params.get("evaluate.confidence") for r in runs]),
    ):
        if _differs(values):
            warnings.append(f"{what} differs between the runs: {_values(labels, values)}.")
    seed_warned = _differs([r.params.get("seed") for r in runs])
    warnings += _scorer_warnings(runs, labels, skip={"seed"} if seed_warned else set())
    warnings += _data_warnings(runs, labels)
    return warnings


def benchmarks_of(scorers: Iterable[Mapping[str, str]]) -> set[str]:
    """Benchmark names in scorer params (``<benchmark>.<field>``; a benchmark named by a file keeps its dot)."""
    return {name.rsplit(".", 1)[0] for fields in scorers for name in fields if "." in name}


def _metrics_of(runs: Sequence[ComparedRun], variants: Sequence[str], benchmark: str | None) -> list[str]:
    """Headline metrics of ``variants`` that a scorer of ``benchmark`` (None: the variant-level scorer) made."""
    benchmarks = benchmarks_of(s for run in runs for s in run.scorers.values())
    out = []
    for run in runs:
        for row in run.rows:
            if row["variant"] not in variants or not is_headline(row["metric"]):
                continue
            bench = row["metric"].split("/", 1)[0] if "/" in row["metric"] else None
            bench = bench if bench in benchmarks else None
            if bench == benchmark:
                out.append(row["metric"])
    return out


def _scorer_warnings(runs: Sequence[ComparedRun], labels: Sequence[str], skip: set[str]) -> list[str]:
    """One warning per (benchmark, field, values) that differs, naming every variant it concerns."""
    grouped: dict[tuple[str | None, str, tuple[str | None, ...]], list[str]] = {}
    variants = list(dict.fromkeys(v for run in runs for v in run.scorers))
    for variant in variants:
        scorers = [run.scorers.get(variant, {}) for run in runs]
        for name in dict.fromkeys(k for s in scorers for k in s):
            benchmark, _, fld = name.rpartition(".")
            if fld in SCORER_FIELDS_IGNORED or fld in skip:
                continue
            values = tuple(s.get(name) for s in scorers)
            if _differs(values):
                grouped.setdefault((benchmark or None, fld, values), []).append(variant)
    warnings = []
    for (benchmark, fld, values), names in grouped.items():
        rows = _metrics_of(runs, names, benchmark)
        where = f"benchmark {benchmark}" if benchmark else "the variant-level scorer"
        affected = f"{benchmark}/* rows" if benchmark else "non-benchmark rows"
        warnings.append(
            f"scorer field '{fld}' of {where} differs for {_listing(names)}: {_values(labels, values)}; "
            f"affects their {affected}" + (f" ({_listing(rows)})." if rows else ".")
        )
    return warnings


def _data_warnings(runs: Sequence[ComparedRun], labels: Sequence[str]) -> list[str]:
    """DVC input hashes of the evaluate stage: data that differs, and scorer code that differs."""
    per_run = [_stage_hashes(run) for run in runs]
    deps = list(dict.fromkeys(d for hashes in per_run for d in hashes))
    warnings, code = [], []
    for dep in deps:
        values = [hashes.get(dep) for hashes in per_run]
        if not _differs(values):
            continue
        if dep.startswith("data/"):
            variants = [v for run in runs for v in run.data_hashes]
            if dep == "data/benchmarks":
                benches = benchmarks_of(s for run in runs for s in run.scorers.values())
                what = "benchmark metrics (" + _listing(sorted(f"{b}/*" for b in benches)) + ")"
            elif dep == "data/testbed":
                what = "testbed metrics (" + _listing(_metrics_of(runs, variants, None)) + ")"
            else:
                what = "metrics computed from it"
            warnings.append(
                f"evaluate input {dep} differs: {_values(labels, values)}; {what} came from different data."
            )
        elif dep.startswith("causal_llm/"):
            code.append(dep)
    if code:
        warnings.append(
            f"evaluation code differs between the runs ({_listing(code)}): metric definitions may have changed."
        )
    return warnings


def _stage_hashes(run: ComparedRun) -> dict[str, str]:
    """The evaluate stage's input hashes (the same on each of its child runs; the first one found wins)."""
    out: dict[str, str] = {}
    for hashes in run.data_hashes.values():
        for dep, value in hashes.items():
            out.setdefault(dep, value)
    return out


def _notes(runs: Sequence[ComparedRun], labels: Sequence[str]) -> list[str]:
    """What is not a warning but worth reading: params and commits that differ, rows missing per run."""
    notes = []
    warned = {"profile", "seed", "evaluate.confidence"}
    keys = [k for k in dict.fromkeys(k for r in runs for k in r.params) if k not in warned]
    values = {k: [r.params.get(k) for r in runs] for k in keys}
    changed = [f"{k}: {_values(labels, v)}" for k, v in values.items() if _differs(v)]
    if changed:
        notes.append(f"params that differ: {_listing(changed, 10, '; ')}.")
    commits = [r.tags.get("git.commit") for r in runs]
    if _differs(commits):
        notes.append(f"git commits differ: {_values(labels, commits)}.")
    everything = {(row["variant"], row["metric"]) for run in runs for row in run.rows}
    for run, label in zip(runs, labels, strict=True):
        mine = {(row["variant"], row["metric"]) for row in run.rows}
        lacking = everything - mine
        if not lacking:
            continue
        own_variants = {v for v, _ in mine}
        variants = sorted({v for v, _ in lacking} - own_variants)
        metrics = sorted({m for v, m in lacking if v in own_variants})
        parts = [f"variant(s) {_listing(variants)}"] if variants else []
        if metrics:
            parts.append(f"{len(metrics)} metric(s) other runs have ({_listing(metrics)})")
        notes.append(f"run {label} lacks " + " and ".join(parts) + ".")
    return notes


# --- output --------------------------------------------------------------------------------------


def _cell(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "-"
    ci = "[n/a]" if math.isnan(low) or math.isnan(high) else f"[{low:.4f}, {high:.4f}]"
    return f"{value:.4f} {ci}"


def format_comparison(comparison: Comparison, headline_only: bool = True) -> str:
    """Fixed-width table (variant, metric, value [CI] per run, delta, CIs disjoint), then warnings and notes."""
    runs, labels, table = comparison.runs, comparison.labels, comparison.table
    if headline_only:
        table = table[table["headline"]]
    level = runs[0].params.get("evaluate.confidence", "0.95")
    level = f"{float(level) * 100:g}%" if re.fullmatch(r"[\d.]+", level) else level
    n = len(runs)
    lines = [f"Comparing {n} lifecycle runs:"]
    for i, run in enumerate(runs, 1):
        commit = _short(run.tags.get("git.commit", "?"))
        lines.append(
            f"  [{i}] {run.short_id}  {run.name}  {run.started}  {run.status}  profile={run.tags.get('profile', '?')}"
            f"  commit={commit}  rows from {run.source}"
        )
    lines.append(
        f"Δ = [{n}] - [1]. 'CIs disjoint' = the two {level} bootstrap CIs do not overlap: a rough flag that the "
        "value moved, not a significance test."
    )
    header = ["variant", "metric", *[f"[{i}] value [{level} CI]" for i in range(1, n + 1)], f"Δ [{n}]-[1]"]
    header.append("CIs disjoint")
    body = []
    for r in table.to_dict("records"):
        cells = [r["variant"], r["metric"]]
        cells += [_cell(r[f"{lb}.value"], r[f"{lb}.ci_low"], r[f"{lb}.ci_high"]) for lb in labels]
        cells.append("" if math.isnan(r["delta"]) else f"{r['delta']:+.4f}")
        cells.append("" if pd.isna(r["cis_disjoint"]) else ("yes" if r["cis_disjoint"] else "no"))
        body.append(cells)
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    for row in [header, *body]:
        left = "  ".join(c.ljust(w) for c, w in zip(row[:2], widths[:2], strict=True))
        right = "  ".join(c.rjust(w) for c, w in zip(row[2:], widths[2:], strict=True))
        lines.append(f"{left}  {right}".rstrip())
    lines += [f"WARNING: {w}" for w in comparison.warnings]
    lines += [f"NOTE: {note}" for note in comparison.notes]
    return "\n".join(lines)


def _with_errors(records: Sequence[Mapping[str, Any]], label: str) -> tuple[list[float], list[list[float]]]:
    """Values and their (below, above) error-bar lengths; a missing CI draws no bar."""
    values = [r[f"{label}.value"] for r in records]
    below = [v - r[f"{label}.ci_low"] for v, r in zip(values, records, strict=True)]
    above = [r[f"{label}.ci_high"] - v for v, r in zip(values, records, strict=True)]
    return values, [[0.0 if math.isnan(e) else max(0.0, e) for e in side] for side in (below, above)]


def _run_label(comparison: Comparison, i: int) -> str:
    """As the text table names the run: ``[i] <id> <name> (<start>)``."""
    run = comparison.runs[i]
    return f"[{i + 1}] {comparison.labels[i]} {run.name} ({run.started})"


def plot_metric_runs(comparison: Comparison, metric: str, path: Path, ideal: float | None = None) -> Path | None:
    """``metric`` per variant, one colour (and vertical offset) per run, 95% CIs as error bars."""
    import matplotlib

    matplotlib.use("Agg")  # no display here or on servers
    import matplotlib.pyplot as plt

    chosen = comparison.table[comparison.table["metric"] == metric]
    if chosen.empty:
        return None
    n = len(comparison.runs)
    step = 0.7 / n
    fig, ax = plt.subplots(figsize=(7.5, (0.25 * n + 0.25) * len(chosen) + 1.8))
    for i, label in enumerate(comparison.labels):
        rows = [(y, r) for y, r in enumerate(chosen.to_dict("records")) if not math.isnan(r[f"{label}.value"])]
        if not rows:
            continue
        values, err = _with_errors([r for _, r in rows], label)
        ys = [y - 0.35 + step / 2 + i * step for y, _ in rows]
        ax.errorbar(values, ys, xerr=err, fmt="o", capsize=3, label=_run_label(comparison, i))
    ax.set_yticks(range(len(chosen)), list(chosen["variant"]))
    if ideal is not None:
        ax.axvline(ideal, color="grey", linestyle="--", label=f"ground truth ({ideal:g})")
    ax.set_xlabel(f"{metric} (95% bootstrap CI)")
    ax.invert_yaxis()
    ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_breakdown_runs(
    comparison: Comparison, metric: str, key: str, path: Path, chance: float | None = None
) -> Path | None:
    """One panel per run: ``metric`` per value of ``key`` (e.g. accuracy per rung), a bar per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prefix = f"{metric}/{key}="
    chosen = comparison.table[comparison.table["metric"].str.startswith(prefix)]
    if chosen.empty:
        return None
    groups = sorted({m.removeprefix(prefix) for m in chosen["metric"]})
    variants = list(dict.fromkeys(chosen["variant"]))
    colours = {v: f"C{i % 10}" for i, v in enumerate(variants)}
    width = 0.8 / len(variants)
    n = len(comparison.runs)
    panel = max(4.0, 1.1 * len(groups) * max(1, len(variants) / 3))
    fig, axes = plt.subplots(1, n, figsize=(panel * n + 2.5, 4.2), sharey=True, squeeze=False, layout="constrained")
    for j, (ax, label) in enumerate(zip(axes[0], comparison.labels, strict=True)):
        for i, variant in enumerate(variants):
            mine = chosen[(chosen["variant"] == variant) & chosen[f"{label}.value"].notna()]
            by_group = {m.removeprefix(prefix): r for m, r in zip(mine["metric"], mine.to_dict("records"), strict=True)}
            picked = [(g, by_group[groups[g]]) for g in range(len(groups)) if groups[g] in by_group]
            if not picked:
                continue
            values, err = _with_errors([r for _, r in picked], label)
            xs = [g + i * width - 0.4 + width / 2 for g, _ in picked]
            ax.bar(xs, values, width, yerr=err, capsize=2, color=colours[variant], label=variant)
        if chosen[f"{label}.value"].isna().all():
            ax.text(0.5, 0.5, "no rows in this run", transform=ax.transAxes, ha="center", color="grey")
        if chance is not None:
            ax.axhline(chance, color="grey", linestyle="--", label=f"chance ({chance:g})")
        ax.set_xticks(range(len(groups)), [f"{key}={g}" for g in groups], rotation=30 if len(groups) > 4 else 0)
        ax.set_xlim(-0.5, len(groups) - 0.5)
        ax.set_title(_run_label(comparison, j), fontsize="small")
    axes[0][0].set_ylabel(f"{metric} (95% bootstrap CI)")
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_legend_handles_labels()[0]}
    fig.legend(handles.values(), handles.keys(), fontsize="small", loc="outside right upper")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_comparison(comparison: Comparison, out_dir: str | Path) -> list[Path]:
    """comparison.csv (every row), .txt (headline rows and warnings), .json, and plots; files an
    earlier comparison wrote to ``out_dir`` and this one does not are removed (so none goes stale)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    earlier = _earlier_files(out_dir / "comparison.json")
    comparison.table.to_csv(out_dir / "comparison.csv", index=False)
    (out_dir / "comparison.txt").write_text(format_comparison(comparison) + "\n")
    paths = [out_dir / "comparison.csv", out_dir / "comparison.txt"]
    table = comparison.table
    headline = list(dict.fromkeys(table.loc[table["headline"], "metric"]))
    for metric in headline:
        spec = spec_for(metric)
        ideal = spec.ideal if spec is not None else None
        paths.append(plot_metric_runs(comparison, metric, out_dir / f"{metric.replace('/', '__')}.png", ideal))
    for metric in headline:  # benchmark accuracy per rung (CLadder), one panel per run
        spec = spec_for(metric)
        chance = spec.chance if spec is not None else None
        name = f"{metric.replace('/', '__')}_by_rung.png"
        paths.append(plot_breakdown_runs(comparison, metric, "rung", out_dir / name, chance))
    paths = [p for p in paths if p is not None]
    paths.append(out_dir / "comparison.json")
    write_json(paths[-1], _to_json(comparison, [p.name for p in paths]))
    for name in earlier - {p.name for p in paths}:
        (out_dir / name).unlink(missing_ok=True)
    return paths


def _earlier_files(manifest: Path) -> set[str]:
    try:
        names = json.loads(manifest.read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {n for n in names if isinstance(n, str) and Path(n).name == n}


def _to_json(comparison: Comparison, files: list[str]) -> dict[str, Any]:
    runs = [
        {
            "label": label,
            "run_id": run.run_id,
            "name": run.name,
            "start_time": run.start_time,
            "status": run.status,
            "profile": run.tags.get("profile"),
            "git_commit": run.tags.get("git.commit"),
            "rows_from": run.source,
        }
        for run, label in zip(comparison.runs, comparison.labels, strict=True)
    ]
    rows = json.loads(comparison.table.to_json(orient="records", double_precision=15))
    return {"runs": runs, "rows": rows, "warnings": comparison.warnings, "notes": comparison.notes, "files": files}
