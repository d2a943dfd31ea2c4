"""Load a benchmark by name or file, score it with one model, and compute its metrics.

The same path serves ``causal-llm evaluate`` and the lifecycle's evaluate stage. Every metric
record carries its scorer: model, dtype, device, batch size, seed, data hash and definition.
"""

from __future__ import annotations

import hashlib
import random
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from causal_llm.benchmarks import FORMATS, BenchmarkFormatError, Item, Malformed, RowErrors, formats
from causal_llm.benchmarks.base import file_hash, item_records

BENCHMARK_DIR = Path("data/benchmarks")
# Benchmarks the platform generates itself (the `benchmarks` DVC stage), by name: (format, file).
NAMED: dict[str, tuple[str, str]] = {
    "testbed_probes": ("testbed", "testbed_probes.jsonl"),
    "cladder_gen": ("cladder", "cladder_gen.json"),
    "corr2cause_gen": ("corr2cause", "corr2cause_gen.csv"),
}


@dataclass(frozen=True)
class LoadedBenchmark:
    name: str
    format: str
    path: Path
    items: list[Item]
    malformed: list[Malformed]
    data_hash: str


def _hash(path: Path, companions: Sequence[Path] = ()) -> str:
    """sha256 of the file (or folder); with companion files read beside it (CLadder's model metadata),
    of each file's name and hash, since they shape the prompts too."""
    if companions:
        digest = hashlib.sha256()
        for part in (path, *companions):
            digest.update(part.name.encode() + _hash(part).encode())
        return digest.hexdigest()
    if path.is_file():
        return file_hash(path)
    digest = hashlib.sha256()
    for child in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(child.relative_to(path)).encode() + file_hash(child).encode())
    return digest.hexdigest()


OPTIONS = re.compile(r"[A-Za-z_]\w*=[^&]*(?:&[A-Za-z_]\w*=[^&]*)*")


def split_options(source: str) -> tuple[str, dict[str, str]]:
    """``cladder:PATH?meta=FILE`` -> (``cladder:PATH``, {"meta": "FILE"}): a format's per-file options
    (``FORMAT.options``), carried in the one string that params.yaml and ``--benchmark`` take."""
    base, sep, query = source.rpartition("?")
    if not sep or not base or not OPTIONS.fullmatch(query):
        return source, {}
    return base, dict(part.split("=", 1) for part in query.split("&"))


def _check_options(format_name: str | None, options: Mapping[str, str], path: Path) -> None:
    if not options:
        return
    if format_name is None:
        raise BenchmarkFormatError(
            f"{path}: options ?{'&'.join(f'{k}={v}' for k, v in options.items())} need the format named: write "
            f"FORMAT:{path}?..., e.g. cladder:{path}?meta=FILE"
        )
    allowed = getattr(FORMATS.get(format_name), "options", ())
    for key, value in options.items():
        if key not in allowed:
            takes = f"it takes {', '.join(allowed)}" if allowed else "it takes none"
            raise BenchmarkFormatError(f"{path}: format {format_name} has no option '{key}' ({takes})")
        if not value:
            raise BenchmarkFormatError(f"{path}: option '{key}' is empty: write ?{key}=FILE")


def resolve(source: str, format_name: str | None = None, root: Path = BENCHMARK_DIR) -> tuple[str, Path, str | None]:
    """(benchmark name, path, format or None to guess) for a named benchmark or a file path;
    ``FORMAT:PATH`` names the format of a file inline (as params.yaml lists them)."""
    known = formats()
    if source in NAMED:
        fmt, filename = NAMED[source]
        path = root / filename
        if not path.exists():
            raise BenchmarkFormatError(
                f"{path}: benchmark '{source}' has not been generated. Run `dvc repro benchmarks` "
                f"(or `causal-llm stage benchmarks`)."
            )
        return source, path, format_name or fmt
    prefix, _, rest = source.partition(":")
    if rest and prefix in known:
        format_name, source = format_name or prefix, rest
    path = Path(source)
    if format_name is not None and format_name not in known:
        FORMATS.get(format_name)  # raises with a did-you-mean hint
    if not path.exists():
        names = ", ".join(sorted(NAMED))
        raise BenchmarkFormatError(f"{path}: no such file or directory, and not a named benchmark ({names}).")
    return path.name, path, format_name


def _guess(path: Path, strict: bool) -> tuple[str, list[Item], list[Malformed]]:
    """Try the formats whose usual suffixes fit the file; the one that reads the most items wins."""
    names = formats()
    fitting = [n for n in names if any(path.name.endswith(s) for s in FORMATS.get(n).suffixes)] or names
    tried, best = [], None
    for name in fitting:
        fmt = FORMATS.get(name)
        rows = RowErrors(path, name, fmt.expects, strict=False, echo=False)
        try:
            items = fmt.read(path, rows)
        except (BenchmarkFormatError, OSError, UnicodeDecodeError) as err:
            tried.append(f"{name}: {str(err).split(' Expected ')[0]}")
            continue
        if items and (best is None or (len(items), -len(rows.malformed)) > (len(best[1]), -len(best[2]))):
            best = (name, items, rows.malformed)
    if best is None:
        raise BenchmarkFormatError(
            f"{path}: could not tell its format; tried " + "; ".join(tried) + f". Pass --format (one of {names})."
        )
    if strict and best[2]:
        raise BenchmarkFormatError(f"{best[2][0]} (--strict: fix or remove the row)")
    for entry in best[2]:
        print(f"warning: skipped malformed row {entry}", file=sys.stderr)
    return best


def load_benchmark(
    source: str,
    format_name: str | None = None,
    strict: bool = False,
    limit: int | None = None,
    sample_seed: int | None = None,
    root: Path = BENCHMARK_DIR,
    options: Mapping[str, str] | None = None,
) -> LoadedBenchmark:
    """Read a benchmark. ``limit`` keeps the first N items, or with ``sample_seed`` a seeded sample of
    N stratified by graph family / relation / bias type (``stratified_sample``). ``options`` (or
    ``SOURCE?key=value&...``) go to the format's reader: ``cladder:PATH?meta=FILE`` names the model
    metadata file."""
    source, inline = split_options(source)
    options = {**inline, **(options or {})}
    name, path, format_name = resolve(source, format_name, root)
    _check_options(format_name, options, path)
    if format_name is None:
        format_name, items, malformed = _guess(path, strict)
    else:
        fmt = FORMATS.get(format_name)
        rows = RowErrors(path, format_name, fmt.expects, strict)
        items, malformed = fmt.read(path, rows, **options), rows.malformed
        if not items:
            raise rows.wrong_format("no valid items")
    if limit is not None and limit < len(items):
        items = items[:limit] if sample_seed is None else stratified_sample(items, limit, sample_seed)
    companions = getattr(FORMATS.get(format_name), "companions", None)
    data_hash = _hash(path, companions(path, **options) if companions else ())
    return LoadedBenchmark(name, format_name, path, items, malformed, data_hash)


# The first of these an item's meta has defines its stratum when sampling (graph family, relation, ...).
STRATA = ("graph_id", "relation", "bias_type", "asks_for", "occupation")


def stratified_sample(items: list[Item], n: int, seed: int) -> list[Item]:
    """``n`` items in file order, drawn round-robin over strata (shuffled within each, seeded), so
    every graph family / relation / bias type is represented once ``n`` reaches their number."""
    rng = random.Random(seed)
    strata: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        key = next((str(item.meta[k]) for k in STRATA if k in item.meta), "")
        strata.setdefault(key, []).append(i)
    queues = [rng.sample(members, len(members)) for _, members in sorted(strata.items())]
    chosen: list[int] = []
    while len(chosen) < n:
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop())
    return [items[i] for i in sorted(chosen)]


@dataclass(frozen=True)
class BenchmarkResult:
    benchmark: str
    format: str
    source: str
    scorer: dict[str, Any]
    metrics: list[dict[str, Any]]
    items: list[dict[str, Any]]
    malformed: list[str]

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _definition(definitions: dict[str, str], metric: str) -> str:
    """A breakdown row (``fmt/metric/key=value``) is defined by its headline metric."""
    return definitions.get("/".join(metric.split("/")[:2]), "")


def evaluate_benchmark(
    model: Any,
    tokenizer: Any,
    bench: LoadedBenchmark,
    model_ref: str,
    variant: str,
    stage: str,
    batch_size: int,
    seed: int,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    progress: bool = False,
) -> BenchmarkResult:
    import torch
    import transformers

    from causal_llm.scoring import score_groups

    fmt = FORMATS.get(bench.format)
    scored = score_groups(model, tokenizer, [item.requests() for item in bench.items], batch_size, progress)
    lls = [np.array([s.loglikelihood for s in group]) for group in scored]
    n_tokens = [np.array([s.n_tokens for s in group]) for group in scored]
    kw = {"n_resamples": n_bootstrap, "confidence": confidence, "seed": seed}
    rows = fmt.metrics(bench.items, fmt.choice_values(lls, n_tokens), variant, stage, **kw)
    if bench.format == "corr2cause":  # the exact d-separation solver, a reference row on the same items
        from causal_llm.benchmarks.corr2cause import SOLVER_VARIANT, solver_metrics

        rows += solver_metrics(bench.items, SOLVER_VARIANT, stage, **kw)
    param = next(model.parameters())
    scorer = {
        "model": model_ref,
        "dtype": str(param.dtype).removeprefix("torch."),
        "device": str(param.device),
        "batch_size": batch_size,
        "seed": seed,
        "data": str(bench.path),
        "data_hash": bench.data_hash,
        "n_items": len(bench.items),
        "n_malformed": len(bench.malformed),
        "engine": "causal_llm.scoring.score_groups (lm-eval loglikelihood definition)",
        "choice_score": fmt.choice_score,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    metrics = [
        {"benchmark": bench.name, **r.to_dict(), "definition": _definition(fmt.definitions, r.metric), "scorer": scorer}
        for r in rows
    ]
    return BenchmarkResult(
        bench.name,
        bench.format,
        str(bench.path),
        scorer,
        metrics,
        item_records(bench.items, lls),
        [str(m) for m in bench.malformed],
    )


def headline(metrics: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The overall rows (no per-group breakdown): what a summary table shows."""
    from causal_llm.metrics import is_headline

    return [m for m in metrics if is_headline(m["metric"])]
