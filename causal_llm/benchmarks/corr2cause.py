"""Corr2Cause (Jin et al. 2024, "Can Large Language Models Infer Causation from Correlation?", ICLR):
infer a causal relation from a closed-world list of correlations and conditional independences.

File format: the published CSVs have ``input`` ("Premise: ...\\nHypothesis: ...") and ``label``
(1 = valid, 0 = invalid); the HF release (causalnlp/corr2cause) adds ``num_variables`` and
``template`` (header ``input,label,num_variables,template``), while the TFDS copy has only the
first two. Our generator (``corr2cause_gen``) writes ``relation``, ``n_variables``, ``graph`` and
``generator_version`` instead. JSON lines (or a JSON array) with the same fields is read too.

Relation of an item (its breakdown key): the ``relation`` column, else the published ``template``
("parent", "child", "non-parent ancestor", "non-child descendant", "has_collider",
"has_confounder"; spaces and hyphens become underscores), else read from the hypothesis by the
rule the published column follows. That column names the *sentence*, not the direction: the
released verbaliser words an indirect cause with either sentence, swapping the pair with it, so
every "X causes something else which causes Y." is "non-parent ancestor" and every "X is a cause
for Y, but not a direct one." is "non-child descendant", whichever of X and Y comes first; both
say that X is an indirect cause of Y. "X directly causes Y." is "parent" when X comes before Y in
the premise's list of variables and "child" otherwise (likewise for the paraphrased "influences
... through some mediator(s)"). Absent ``n_variables``/``num_variables`` are read from the text.

Scoring: context = input + "\\nIs the hypothesis implied by the premise? Answer (yes or no):",
choices " yes" / " no"; a model predicts *valid* iff LL(" yes") > LL(" no") (a tie is "no").
Metrics: F1 of the valid class (the paper's headline; most LLMs are near chance) and accuracy,
overall, per relation and per number of variables. ``solver_metrics`` scores the exact
d-separation solver (``corr2cause_solver``, which shares no code with the generator) on the same
items as a reference row.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from causal_llm.benchmarks.base import BenchmarkFormat, Item, RowErrors, breakdown, f1_of_positive, register_format
from causal_llm.benchmarks.corr2cause_solver import EDGE, parse_hypothesis, solve, split_input, variables_of
from causal_llm.metrics import MetricRow

QUESTION = "\nIs the hypothesis implied by the premise? Answer (yes or no):"
CHOICES = (" yes", " no")
RELATIONS = ("parent", "non_parent_ancestor", "child", "non_child_descendant", "has_collider", "has_confounder")
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
    relation, column = _relation(record, text)
    if column and relation not in RELATIONS:
        rows.bad(line, f"{column}: {record[column]!r} is not one of {', '.join(RELATIONS)}")
        return None
    n_raw = next((record[k] for k in ("n_variables", "num_variables") if record.get(k) not in (None, "")), None)
    try:
        n_variables = n_variables_of(text) if n_raw is None else _count(n_raw)
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


def _relation(record: Mapping[str, Any], text: str) -> tuple[str, str | None]:
    """(relation, the column it came from): ``relation``, else the published ``template``
    (normalised), else the text's (None)."""
    for column in ("relation", "template"):
        value = record.get(column)
        if value not in (None, ""):
            return str(value).strip().replace("-", "_").replace(" ", "_"), column
    try:
        return relation_of(text), None
    except ValueError:
        return "other", None  # a hypothesis outside the paper's templates is still a scorable item


def relation_of(text: str) -> str:
    """The published template of an input's hypothesis, by the rule in the module docstring."""
    premise, hypothesis = split_input(text)
    parsed = parse_hypothesis(hypothesis)
    if parsed.named:
        return parsed.named
    names = variables_of(premise)
    if parsed.a not in names or parsed.b not in names or parsed.a == parsed.b:
        raise ValueError(f"hypothesis relates {parsed.a} and {parsed.b}, not two of {', '.join(names)}")
    forward = names.index(parsed.a) < names.index(parsed.b)
    if parsed.claim == EDGE:
        return "parent" if forward else "child"
    return "non_parent_ancestor" if forward else "non_child_descendant"


def n_variables_of(text: str) -> int:
    match = re.search(r"closed system of (\d+) variables?", text)
    if not match:
        raise ValueError("no 'closed system of N variables' in the premise")
    return int(match.group(1))


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
        "a CSV with columns input ('Premise: ...\\nHypothesis: ...') and label (0/1), optionally num_variables, "
        "template (as published) or relation, n_variables, graph, generator_version (or JSON lines with those fields)"
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
    as a reference row. It reads only the item's text and shares no code with the generator that
    labelled generated items, so 1.0 there checks the labels. An item it cannot read (text outside
    the paper's templates, or more than ``corr2cause_solver.MAX_VARIABLES`` variables) counts as
    predicted invalid, and is counted in a warning."""
    predicted, unreadable = [], 0
    for item in items:
        try:
            predicted.append(solve(item.context.removesuffix(QUESTION)))
        except ValueError:
            predicted.append(0)
            unreadable += 1
    if unreadable:
        print(f"warning: the exact solver could not read {unreadable} of {len(items)} items", file=sys.stderr)
    return _rows(items, np.array(predicted, dtype=int), variant, stage, **kw)
