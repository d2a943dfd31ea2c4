"""Corr2Cause (Jin et al. 2024, "Can Large Language Models Infer Causation from Correlation?", ICLR):
infer a causal relation from a closed-world list of correlations and conditional independences.

File format: the HF release (causalnlp/corr2cause) is a CSV with ``input`` ("Premise: ...\\nHypothesis:
...") and ``label`` (1 = valid, 0 = invalid); our generator (``corr2cause_gen``) adds ``relation``,
``n_variables``, ``graph`` and ``generator_version``. JSON lines (or a JSON array) with the same
fields is read too. Absent ``relation``/``n_variables`` are parsed from the text.

Scoring: context = input + "\\nIs the hypothesis implied by the premise? Answer (yes or no):",
choices " yes" / " no"; a model predicts *valid* iff LL(" yes") > LL(" no") (a tie is "no").
Metrics: F1 of the valid class (the paper's headline; most LLMs are near chance) and accuracy,
overall, per relation and per number of variables. ``solver_metrics`` scores the exact
d-separation solver on the same items as a reference row.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from causal_llm.benchmarks.base import BenchmarkFormat, Item, RowErrors, breakdown, f1_of_positive, register_format
from causal_llm.benchmarks.corr2cause_gen import QUESTION, RELATIONS, n_variables_of, relation_of, solve, split_input
from causal_llm.metrics import MetricRow

CHOICES = (" yes", " no")
BREAKDOWN_KEYS = ("relation", "n_variables")
SOLVER_VARIANT = "exact_solver"  # the variant name of solver_metrics' reference rows


def _label(value: Any) -> int:
    """0 or 1 from an int, a bool-free number or its text ("1", "1.0": pandas writes floats)."""
    if isinstance(value, bool) or value is None:
        raise ValueError
    number = float(value.strip()) if isinstance(value, str) else float(value)
    if number not in (0.0, 1.0):
        raise ValueError
    return int(number)


def _item(record: Mapping[str, Any], line: int, rows: RowErrors) -> Item | None:
    text = record.get("input")
    if not isinstance(text, str) or not text.strip():
        rows.bad(line, "input: missing or empty")
        return None
    try:
        split_input(text)
    except ValueError as e:
        rows.bad(line, f"input: {e}")
        return None
    raw = record.get("label")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        rows.bad(line, "label: missing")
        return None
    try:
        label = _label(raw)
    except ValueError:
        rows.bad(line, f"label: {raw!r} is not 0 (invalid) or 1 (valid)")
        return None
    relation = record.get("relation")
    if relation in (None, ""):
        try:
            relation = relation_of(text)
        except ValueError:
            relation = "other"  # a hypothesis outside the paper's templates is still a scorable item
    elif relation not in RELATIONS:
        rows.bad(line, f"relation: {relation!r} is not one of {', '.join(RELATIONS)}")
        return None
    n_raw = record.get("n_variables")
    try:
        n_variables = n_variables_of(text) if n_raw in (None, "") else _count(n_raw)
    except ValueError as e:
        rows.bad(line, f"n_variables: {str(e) or f'{n_raw!r} is not a positive integer'}")
        return None
    return Item(
        id=str(record.get("id") or f"corr2cause-{line}"),
        context=text + QUESTION,
        choices=CHOICES,
        label=0 if label == 1 else 1,
        meta={"relation": relation, "n_variables": n_variables},
    )


def _count(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    number = float(value.strip()) if isinstance(value, str) else float(value)
    if not number.is_integer() or number < 1:
        raise ValueError
    return int(number)


def _csv_records(path: Path, rows: RowErrors) -> Iterator[tuple[int, Mapping[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        try:
            header = reader.fieldnames
        except csv.Error as e:
            raise rows.wrong_format(f"unreadable CSV header: {e}") from e
        if not header or not {"input", "label"} <= set(header):
            raise rows.wrong_format(f"header has columns {header or []}, needs input and label")
        start = reader.line_num + 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise rows.wrong_format(f"CSV error near line {reader.line_num}: {e}") from e
            yield start, record
            start = reader.line_num + 1


def _json_records(text: str, rows: RowErrors) -> Iterator[tuple[int, Any]]:
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise rows.wrong_format(f"invalid JSON: {e}") from e
        if data and isinstance(data[0], dict) and "input" not in data[0]:
            raise rows.wrong_format(f"the first item has fields {sorted(data[0])}, not input and label")
        yield from enumerate(data, start=1)
        return
    seen_object = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if not seen_object:
                raise rows.wrong_format(f"line {number} is not JSON: {e}") from e
            rows.bad(number, f"not a JSON object: {e}")
            continue
        if not seen_object and not (isinstance(record, dict) and "input" in record):
            raise rows.wrong_format(f"line {number} is not an object with an input field")
        seen_object = True
        yield number, record


@register_format
class Corr2Cause(BenchmarkFormat):
    name: ClassVar[str] = "corr2cause"
    expects: ClassVar[str] = (
        "a CSV with columns input ('Premise: ...\\nHypothesis: ...') and label (0/1), optionally relation, "
        "n_variables, graph, generator_version (or JSON lines with those fields)"
    )
    suffixes: ClassVar[tuple[str, ...]] = (".csv", ".jsonl", ".json")
    definitions: ClassVar[dict[str, str]] = {
        "corr2cause/f1": "F1 of the valid class; predicted valid iff LL(' yes') > LL(' no') after the premise, "
        "hypothesis and 'Is the hypothesis implied by the premise?'",
        "corr2cause/accuracy": "share of items whose yes/no prediction (LL(' yes') > LL(' no')) matches the label",
    }

    def read(self, path: Path, rows: RowErrors) -> list[Item]:
        try:
            text = path.read_text(encoding="utf-8-sig")  # a BOM is not part of the header
        except UnicodeDecodeError as e:
            raise rows.wrong_format(f"not UTF-8 text: {e}") from e
        if not text.strip():
            raise rows.wrong_format("the file is empty")
        head = text.lstrip()[:1]
        records = _json_records(text, rows) if head in "[{" else _csv_records(path, rows)
        items = []
        for line, record in records:
            if not isinstance(record, dict):
                rows.bad(line, f"expected an object with input and label, got {type(record).__name__}")
                continue
            if None in record:  # csv.DictReader puts surplus fields under None
                rows.bad(line, f"{len(record[None])} field(s) more than the header has")
                continue
            if item := _item(record, line, rows):
                items.append(item)
        return items

    def metrics(
        self, items: Sequence[Item], lls: Sequence[np.ndarray], variant: str, stage: str, **kw: Any
    ) -> list[MetricRow]:
        predicted_valid = np.array([ll[0] > ll[1] for ll in lls], dtype=int)
        return _rows(items, predicted_valid, variant, stage, **kw)


def _rows(items: Sequence[Item], predicted_valid: np.ndarray, variant: str, stage: str, **kw: Any) -> list[MetricRow]:
    truth = np.array([int(item.label == 0) for item in items])
    pairs = np.column_stack([predicted_valid, truth])
    return [
        *breakdown(pairs, items, "corr2cause/f1", BREAKDOWN_KEYS, variant, stage, statistic=f1_of_positive, **kw),
        *breakdown(
            (predicted_valid == truth).astype(float), items, "corr2cause/accuracy", BREAKDOWN_KEYS, variant, stage, **kw
        ),
    ]


def solver_metrics(items: Sequence[Item], variant: str, stage: str, **kw: Any) -> list[MetricRow]:
    """The exact d-separation solver's F1 and accuracy on ``items`` (pass ``variant=SOLVER_VARIANT``),
    as a reference row. An item it cannot read (text outside the paper's templates, or a premise with
    more than 15 adjacent pairs) counts as predicted invalid, and is counted in a warning."""
    predicted, unreadable = [], 0
    for item in items:
        try:
            predicted.append(solve(item.context))
        except ValueError:
            predicted.append(0)
            unreadable += 1
    if unreadable:
        print(f"warning: the exact solver could not read {unreadable} of {len(items)} items", file=sys.stderr)
    return _rows(items, np.array(predicted, dtype=int), variant, stage, **kw)
