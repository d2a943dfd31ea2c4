"""What every benchmark shares: multiple-choice items, per-row error handling, metric breakdowns.

A benchmark file is read by one *format* (CrowS-Pairs CSV, StereoSet JSON, ...) into ``Item``s: a
context and its choices, each scored as LL(choice | context) by ``causal_llm.scoring``. The format
then turns the per-choice log-likelihoods into its published metrics. Formats are registered in
``FORMATS`` where they are defined.
"""

from __future__ import annotations

import hashlib
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from causal_llm.config import InputError
from causal_llm.metrics import MetricRow, bootstrap
from causal_llm.registry import Registry


class BenchmarkFormatError(InputError):
    """A benchmark file that cannot be used; the message names the file, line and expected format."""


@dataclass(frozen=True)
class Item:
    """One multiple-choice item. ``label`` indexes the correct choice (for bias pairs: the
    stereotyped one). Choices carry their own leading space: LL(choice | context) is scored as is."""

    id: str
    context: str
    choices: tuple[str, ...]
    label: int
    meta: Mapping[str, Any] = field(default_factory=dict)

    def requests(self) -> list[tuple[str, str]]:
        return [(self.context, choice) for choice in self.choices]


@dataclass(frozen=True)
class Malformed:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


class RowErrors:
    """Collects malformed rows of one file: each is reported with file and line and counted, then
    skipped, or raised at once under ``strict``. Nothing is dropped silently."""

    def __init__(self, path: Path, format_name: str, expects: str, strict: bool = False, echo: bool = True) -> None:
        self.path, self.format_name, self.expects, self.strict = path, format_name, expects, strict
        self.echo = echo  # off while guessing a file's format; the chosen format's rows are reported after
        self.malformed: list[Malformed] = []

    def bad(self, line: int, reason: str) -> None:
        """Record row ``line`` (1-based; for JSON arrays the item's index) as malformed."""
        entry = Malformed(str(self.path), line, reason)
        if self.strict:
            raise BenchmarkFormatError(f"{entry} (--strict: fix or remove the row)")
        self.malformed.append(entry)
        if self.echo:
            print(f"warning: skipped malformed row {entry}", file=sys.stderr)

    def wrong_format(self, detail: str) -> BenchmarkFormatError:
        """The error to raise when the file as a whole is not in this format."""
        return BenchmarkFormatError(
            f"{self.path}: not a {self.format_name} file ({detail}). Expected {self.expects}. "
            f"Pass --format to choose another format."
        )


class BenchmarkFormat(ABC):
    """A published file format and the metrics defined on it."""

    name: ClassVar[str]  # what --format takes
    expects: ClassVar[str]  # the format in words, for errors: "a CSV with columns sent_more, sent_less, ..."
    suffixes: ClassVar[tuple[str, ...]]  # file suffixes this format is usually found in
    definitions: ClassVar[dict[str, str]]  # headline metric -> its definition, logged with every result
    # How a choice is scored from its tokens (the scorer records it): a format may normalise by length.
    choice_score: ClassVar[str] = "sum of the choice's token log-probabilities (lm-eval loglikelihood)"

    def choice_values(self, lls: Sequence[np.ndarray], n_tokens: Sequence[np.ndarray]) -> Sequence[np.ndarray]:
        """What ``metrics`` compares per choice: the summed log-likelihoods, unless a format says otherwise."""
        return list(lls)

    @abstractmethod
    def read(self, path: Path, rows: RowErrors) -> list[Item]:
        """Parse ``path`` into items; report bad rows through ``rows``; raise ``rows.wrong_format``
        when the file is not in this format at all."""

    @abstractmethod
    def metrics(
        self, items: Sequence[Item], lls: Sequence[np.ndarray], variant: str, stage: str, **kw: Any
    ) -> list[MetricRow]:
        """Metric rows (with bootstrap CIs, ``kw`` = bootstrap args) from each item's choice LLs."""


FORMATS: Registry[BenchmarkFormat] = Registry("benchmark format")


def register_format(cls: type[BenchmarkFormat]) -> type[BenchmarkFormat]:
    FORMATS.register(cls.name)(cls())
    return cls


def file_hash(path: str | Path) -> str:
    """sha256 of a file's bytes: the data hash every metric records."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def predictions(lls: Sequence[np.ndarray]) -> np.ndarray:
    """The argmax choice per item (first choice on ties, as lm-eval's ``np.argmax``)."""
    return np.array([int(np.argmax(ll)) for ll in lls])


def row(
    values: np.ndarray,
    metric: str,
    variant: str,
    stage: str,
    statistic: Callable[[np.ndarray], float] | None = None,
    **kw: Any,
) -> MetricRow:
    """A bootstrap row of ``statistic`` (default: the mean) over per-item ``values``."""
    values = np.asarray(values, dtype=float)
    stat = statistic or (lambda v: float(v.mean()))
    point, low, high = bootstrap(lambda idx: stat(values[idx]), len(values), **kw)
    return MetricRow(variant, stage, metric, point, low, high, len(values))


def breakdown(
    values: np.ndarray,
    items: Sequence[Item],
    metric: str,
    keys: Sequence[str],
    variant: str,
    stage: str,
    statistic: Callable[[np.ndarray], float] | None = None,
    **kw: Any,
) -> list[MetricRow]:
    """The metric over all items, then per value of each ``meta`` key: ``<metric>/<key>=<value>``."""
    values = np.asarray(values, dtype=float)
    rows = [row(values, metric, variant, stage, statistic, **kw)]
    for key in keys:
        groups: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            if key in item.meta:
                groups.setdefault(str(item.meta[key]), []).append(i)
        for value in sorted(groups):
            rows.append(row(values[groups[value]], f"{metric}/{key}={value}", variant, stage, statistic, **kw))
    return rows


def f1_of_positive(pairs: np.ndarray) -> float:
    """F1 of the positive class from an (n, 2) array of (prediction, truth) in {0, 1}."""
    pred, truth = pairs[:, 0], pairs[:, 1]
    tp = float(((pred == 1) & (truth == 1)).sum())
    denom = float((pred == 1).sum() + (truth == 1).sum())
    return 2 * tp / denom if denom else 0.0


def item_records(items: Sequence[Item], lls: Sequence[np.ndarray]) -> list[dict[str, Any]]:
    """The per-item table: every choice's LL, the prediction, the label and the item's meta."""
    out = []
    for item, ll in zip(items, lls, strict=True):
        pred = int(np.argmax(ll))
        out.append(
            {
                "id": item.id,
                "loglikelihoods": [float(x) for x in ll],
                "prediction": pred,
                "label": item.label,
                "correct": int(pred == item.label),
                **{f"meta.{k}": v for k, v in item.meta.items()},
            }
        )
    return out
