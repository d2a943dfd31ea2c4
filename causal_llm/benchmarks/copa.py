"""COPA and e-CARE: pick the more plausible cause (or effect) of a premise out of two alternatives.

COPA, the Choice Of Plausible Alternatives (Roemmele, Bejan & Gordon 2011), is read from its
official XML (``<copa-corpus><item id asks-for most-plausible-alternative><p/><a1/><a2/></item>``)
or from SuperGLUE's JSONL (Wang et al. 2019: ``premise, choice1, choice2, question, label, idx``).
e-CARE (Du et al. 2022, "e-CARE: a New Dataset for Exploring Explainable Causal Reasoning") is
JSONL: ``premise, ask-for, hypothesis1, hypothesis2, label`` and an optional ``index``.

Both are scored byte-for-byte as lm-evaluation-harness 0.4 scores SuperGLUE COPA
(``lm_eval/tasks/super_glue/copa/utils.py``): context = the stripped premise minus its last character
(the full stop) + " because" (asks for the cause) or " therefore" (the effect); each choice = " " + the
alternative with its first letter lower-cased; the prediction is the choice with the higher summed
log-likelihood.

``read_json_lines`` and ``accuracy_values`` are shared with the other JSONL formats here.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from causal_llm.benchmarks.base import BenchmarkFormat, Item, RowErrors, breakdown, predictions, register_format
from causal_llm.metrics import MetricRow

CONNECTORS = {"cause": "because", "effect": "therefore"}


class RowError(ValueError):
    """One field of one row is missing or wrong; the message names the field."""


def copa_context(premise: str, asks_for: str) -> str:
    # lm-eval drops the last character whatever it is (the premise's full stop): kept identical.
    return premise.strip()[:-1] + f" {CONNECTORS[asks_for]}"


def copa_choice(alternative: str) -> str:
    return " " + alternative[0].lower() + alternative[1:]


def copa_item(
    item_id: str, premise: str, asks_for: str, alternatives: tuple[str, str], label: int, **meta: Any
) -> Item:
    return Item(
        item_id,
        copa_context(premise, asks_for),
        tuple(copa_choice(a) for a in alternatives),
        label,
        {"asks_for": asks_for, **meta},
    )


def text_field(obj: Mapping[str, Any], key: str, strip: bool = False) -> str:
    """A required non-empty string field."""
    if obj.get(key) is None:
        raise RowError(f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, str) or not value.strip():
        raise RowError(f"field {key!r} must be a non-empty string (got {value!r})")
    return value.strip() if strip else value


def choice_field(obj: Mapping[str, Any], key: str, allowed: Mapping[Any, Any]) -> Any:
    """A required field with a closed set of values, mapped through ``allowed``."""
    if obj.get(key) is None:
        raise RowError(f"missing field {key!r}")
    value = obj[key]
    # bool is an int in Python: True must not pass as the label 1
    if isinstance(value, bool) or not isinstance(value, int | str) or value not in allowed:
        options = " or ".join(repr(k) for k in allowed)
        raise RowError(f"field {key!r} must be {options} (got {value!r})")
    return allowed[value]


def read_text(path: Path, rows: RowErrors) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: tolerate a byte-order mark
    except UnicodeDecodeError as err:
        raise rows.wrong_format(f"not UTF-8 text: {err}") from err


def read_json_lines(path: Path, rows: RowErrors, signature: set[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each JSON-object line; lines that are not JSON objects are reported
    as malformed in line order as the caller iterates. The file is the wrong format when no line parses,
    or when the first object has none of the ``signature`` fields (another benchmark's JSONL)."""
    text = read_text(path, rows)
    if text.lstrip().startswith("["):
        raise rows.wrong_format("the file is one JSON array, not one JSON object per line")
    parsed: list[tuple[int, Any, str]] = []
    # split on "\n" only: str.splitlines would also split at U+2028 inside a JSON string
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            parsed.append((n, json.loads(line), ""))
        except json.JSONDecodeError as err:
            parsed.append((n, None, f"not valid JSON ({err.msg} at column {err.colno})"))
    first = next(((n, obj) for n, obj, err in parsed if not err), None)
    if first is None:
        raise rows.wrong_format("no line is valid JSON" if parsed else "the file is empty")
    n, obj = first
    if not isinstance(obj, dict):
        raise rows.wrong_format(f"line {n} is a JSON {type(obj).__name__}, not an object")
    if not signature & obj.keys():
        raise rows.wrong_format(f"line {n} has fields {sorted(obj)[:10]} and none of {sorted(signature)}")
    for n, obj, err in parsed:
        if err:
            rows.bad(n, err)
        elif not isinstance(obj, dict):
            rows.bad(n, f"a JSON {type(obj).__name__}, not an object")
        else:
            yield n, obj


def accuracy_values(items: Sequence[Item], lls: Sequence[np.ndarray]) -> np.ndarray:
    """1.0 where the highest-LL choice is the labelled one, per item."""
    if len(items) != len(lls):
        raise ValueError(f"{len(items)} items but {len(lls)} log-likelihood arrays")
    return (predictions(lls) == np.array([item.label for item in items])).astype(float)


def read_copa_jsonl(
    path: Path, rows: RowErrors, choice_keys: tuple[str, str], asks_key: str, id_key: str
) -> list[Item]:
    """COPA-shaped JSONL (SuperGLUE COPA, e-CARE): the same record under different field names."""
    items = []
    for n, obj in read_json_lines(path, rows, {*choice_keys, asks_key}):
        try:
            premise = text_field(obj, "premise")
            alternatives = (text_field(obj, choice_keys[0]), text_field(obj, choice_keys[1]))
            asks_for = choice_field(obj, asks_key, {k: k for k in CONNECTORS})
            label = choice_field(obj, "label", {0: 0, 1: 1})
        except RowError as err:
            rows.bad(n, str(err))
            continue
        items.append(copa_item(str(obj.get(id_key, n)), premise, asks_for, alternatives, label))
    return items


class _CopaLike(BenchmarkFormat):
    """Accuracy overall and per asks-for (cause/effect)."""

    def metrics(
        self, items: Sequence[Item], lls: Sequence[np.ndarray], variant: str, stage: str, **kw: Any
    ) -> list[MetricRow]:
        values = accuracy_values(items, lls)
        return breakdown(values, items, f"{self.name}/accuracy", ["asks_for"], variant, stage, **kw)


@register_format
class Copa(_CopaLike):
    name: ClassVar[str] = "copa"
    expects: ClassVar[str] = (
        "the official COPA XML (<copa-corpus> of <item id asks-for most-plausible-alternative> with "
        "<p>, <a1>, <a2>) or SuperGLUE COPA JSONL (premise, choice1, choice2, question, label, idx)"
    )
    suffixes: ClassVar[tuple[str, ...]] = (".xml", ".jsonl")
    definitions: ClassVar[dict[str, str]] = {
        "copa/accuracy": "share of items whose correct alternative has the higher LL(' ' + alternative | "
        "premise minus its full stop + ' because'/' therefore'), as lm-eval's copa task"
    }

    def read(self, path: Path, rows: RowErrors) -> list[Item]:
        if read_text(path, rows).lstrip().startswith("<"):
            return self._read_xml(path, rows)
        return self._read_jsonl(path, rows)

    def _read_xml(self, path: Path, rows: RowErrors) -> list[Item]:
        try:
            root = ET.fromstring(path.read_bytes())
        except ET.ParseError as err:
            raise rows.wrong_format(f"not well-formed XML: {err}") from err
        if root.tag != "copa-corpus":
            raise rows.wrong_format(f"the root element is <{root.tag}>, not <copa-corpus>")
        items = []
        for index, element in enumerate(root, 1):  # errors name the item's 1-based position
            try:
                if element.tag != "item":
                    raise RowError(f"element <{element.tag}> where an <item> was expected")
                fields = {child: element.findtext(child) for child in ("p", "a1", "a2")}
                asks_for = choice_field(element.attrib, "asks-for", {k: k for k in CONNECTORS})
                label = choice_field(element.attrib, "most-plausible-alternative", {"1": 0, "2": 1})
                # XML text may be indented: strip it (SuperGLUE's copy has none)
                premise = text_field(fields, "p", strip=True)
                alternatives = (text_field(fields, "a1", strip=True), text_field(fields, "a2", strip=True))
            except RowError as err:
                rows.bad(index, f"item id={element.get('id', '?')}: {err}")
                continue
            items.append(copa_item(element.get("id", str(index)), premise, asks_for, alternatives, label))
        return items

    def _read_jsonl(self, path: Path, rows: RowErrors) -> list[Item]:
        return read_copa_jsonl(path, rows, ("choice1", "choice2"), "question", "idx")


@register_format
class ECare(_CopaLike):
    name: ClassVar[str] = "ecare"
    expects: ClassVar[str] = "e-CARE JSONL (one object per line: premise, ask-for, hypothesis1, hypothesis2, label)"
    suffixes: ClassVar[tuple[str, ...]] = (".jsonl",)
    definitions: ClassVar[dict[str, str]] = {
        "ecare/accuracy": "share of items whose correct hypothesis has the higher LL(' ' + hypothesis | "
        "premise minus its full stop + ' because'/' therefore'), scored as lm-eval's copa task"
    }

    def read(self, path: Path, rows: RowErrors) -> list[Item]:
        return read_copa_jsonl(path, rows, ("hypothesis1", "hypothesis2"), "ask-for", "index")
