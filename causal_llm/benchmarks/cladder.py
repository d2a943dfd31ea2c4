"""CLadder: yes/no causal questions on all three rungs of Pearl's ladder (Jin et al. 2023, "CLadder:
Assessing Causal Reasoning in Language Models", NeurIPS).

Each question comes from a Bayesian network over binary variables in one of ten graph families.
The official release is a JSON array of questions (``question_id, given_info, question, answer,
meta{rung, query_type, graph_id, story_id, model_id, ...}, reasoning``); the story's ``background``
(the causal graph in words) lives in the model metadata file ``cladder-v1-meta-models.json``, keyed
by ``model_id``. JSONL with the same fields per line is accepted too.

Prompt = background + " " + given_info + " " + question + "\\nAnswer (yes or no):", choices " yes" and
" no"; the prediction is the choice with the higher log-likelihood. Accuracy overall and per rung,
query type, graph and variant (commonsense / anticommonsense / nonsense, where the file says).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from causal_llm.benchmarks.base import (
    BenchmarkFormat,
    BenchmarkFormatError,
    Item,
    RowErrors,
    breakdown,
    register_format,
)
from causal_llm.benchmarks.copa import RowError, accuracy_values, choice_field, read_json_lines, read_text, text_field
from causal_llm.metrics import MetricRow

ANSWER_SUFFIX = "\nAnswer (yes or no):"
CHOICES = (" yes", " no")
SIGNATURE = {"given_info", "question", "answer"}
META_NAMES = ("{stem}-meta-models.json", "{stem}_models.json")
META_GLOB = "*meta-models*.json"
VARIANT_KEYS = ("variant", "phenomenon")  # what generators and re-releases call the story variant


def find_model_metadata(path: Path) -> Path | None:
    """The model metadata file beside ``path``: ``<stem>-meta-models.json``, ``<stem>_models.json``,
    else the ``*meta-models*.json`` sharing the longest name prefix (the release names it
    ``cladder-v1-meta-models.json`` beside ``cladder-v1-balanced.json``)."""
    for pattern in META_NAMES:
        candidate = path.with_name(pattern.format(stem=path.stem))
        if candidate.is_file() and candidate.resolve() != path.resolve():
            return candidate
    found = sorted(p for p in path.parent.glob(META_GLOB) if p.is_file() and p.resolve() != path.resolve())
    if not found:
        return None
    return max(found, key=lambda p: len(os.path.commonprefix([p.name, path.name])))


def load_backgrounds(meta_path: Path) -> dict[str, dict[str, Any]]:
    """model_id (as a string) -> the model entry (background, and story_id/graph_id when given), from a
    JSON array of models or a dict keyed by model id. Models without a background are left out: their
    questions are then reported as malformed."""
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BenchmarkFormatError(f"{meta_path}: CLadder model metadata is not valid JSON ({err})") from err
    if isinstance(data, dict):
        entries = [(key, value) for key, value in data.items() if isinstance(value, dict)]
    elif isinstance(data, list):
        entries = [(value.get("model_id"), value) for value in data if isinstance(value, dict)]
    else:
        raise BenchmarkFormatError(f"{meta_path}: CLadder model metadata must be a JSON array or object of models")
    out = {}
    for key, model in entries:
        model_id = model.get("model_id", key)
        if model_id is not None and isinstance(model.get("background"), str):
            out[str(model_id)] = model
    return out


def _rung(meta: Mapping[str, Any]) -> int:
    value = meta.get("rung")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return choice_field({"meta.rung": value}, "meta.rung", {1: 1, 2: 2, 3: 3})


def _meta_text(meta: Mapping[str, Any], key: str) -> str:
    return text_field({f"meta.{key}": meta.get(key)}, f"meta.{key}")


@register_format
class CLadder(BenchmarkFormat):
    name: ClassVar[str] = "cladder"
    expects: ClassVar[str] = (
        "CLadder questions: a JSON array (or JSONL) of objects with question_id, given_info, question, answer "
        "(yes/no) and meta {rung, query_type, graph_id, story_id, model_id}, with the backgrounds in a sibling "
        "*meta-models*.json"
    )
    suffixes: ClassVar[tuple[str, ...]] = (".json", ".jsonl")
    definitions: ClassVar[dict[str, str]] = {
        "cladder/accuracy": "share of questions where the higher of LL(' yes') and LL(' no') given background + "
        "given_info + question + '\\nAnswer (yes or no):' is the official answer"
    }

    def read(self, path: Path, rows: RowErrors) -> list[Item]:
        meta_path = find_model_metadata(path)
        backgrounds = load_backgrounds(meta_path) if meta_path else {}
        if meta_path:
            where = f"not in {meta_path.name}"
        else:
            names = ", ".join([p.format(stem=path.stem) for p in META_NAMES] + [META_GLOB])
            where = f"no model metadata file ({names}) in {path.parent} and no 'background' field"
        items = []
        for line, question in self._questions(path, rows):
            try:
                items.append(self._item(question, backgrounds, where))
            except RowError as err:
                rows.bad(line, str(err))
        return items

    def _questions(self, path: Path, rows: RowErrors) -> Iterator[tuple[int, Any]]:
        """(line, question): the 1-based index for a JSON array, the file line for JSONL."""
        text = read_text(path, rows)
        if not text.lstrip().startswith("["):
            return read_json_lines(path, rows, SIGNATURE)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise rows.wrong_format(f"not valid JSON: {err}") from err
        first = next((q for q in data if isinstance(q, dict)), None)
        if data and (first is None or not SIGNATURE & first.keys()):
            hint = " (a model metadata file?)" if first and "background" in first else ""
            keys = sorted(first)[:10] if first else []
            raise rows.wrong_format(f"the array's objects have fields {keys}{hint}, none of {sorted(SIGNATURE)}")
        return enumerate(data, 1)

    def _item(self, q: Any, backgrounds: Mapping[str, Mapping[str, Any]], where: str) -> Item:
        if not isinstance(q, dict):
            raise RowError(f"a JSON {type(q).__name__}, not a question object")
        qid = q.get("question_id", q.get("id"))
        if qid is None or isinstance(qid, bool | dict | list):
            raise RowError("missing field 'question_id' (or 'id')")
        given_info = q.get("given_info")
        if not isinstance(given_info, str):  # may be empty: some query types give no numbers
            raise RowError(f"field 'given_info' must be a string (got {given_info!r})")
        question = text_field(q, "question")
        answer = q.get("answer")
        label = choice_field(
            {"answer": answer.strip().lower() if isinstance(answer, str) else answer}, "answer", {"yes": 0, "no": 1}
        )
        meta = q.get("meta")
        if not isinstance(meta, dict):
            raise RowError("missing field 'meta'" if meta is None else f"field 'meta' must be an object (got {meta!r})")
        model_id = meta.get("model_id")
        if model_id is None or isinstance(model_id, bool | dict | list):
            raise RowError(f"field 'meta.model_id' must be an id (got {model_id!r})")
        item_meta: dict[str, Any] = {
            "rung": _rung(meta),
            "query_type": _meta_text(meta, "query_type"),
            "graph_id": _meta_text(meta, "graph_id"),
            "story_id": _meta_text(meta, "story_id"),
            "model_id": model_id,
        }
        variant = next((meta[k] for k in VARIANT_KEYS if isinstance(meta.get(k), str) and meta[k]), None)
        if variant is not None:
            item_meta["variant"] = variant
        model = backgrounds.get(str(model_id))
        for key in ("story_id", "graph_id"):  # a metadata file of another release gives the wrong story
            if model is not None and key in model and key in meta and str(model[key]) != str(meta[key]):
                raise RowError(
                    f"model_id {model_id!r} is {key} {model[key]!r} in the model metadata file found beside this "
                    f"file but {meta[key]!r} in the question: put the questions' own *-meta-models.json beside them"
                )
        background = model["background"] if model is not None else q.get("background")
        if not isinstance(background, str) or not background.strip():
            raise RowError(f"no background for model_id {model_id!r} ({where})")
        prompt = " ".join(part.strip() for part in (background, given_info, question) if part.strip())
        return Item(str(qid), prompt + ANSWER_SUFFIX, CHOICES, label, item_meta)

    def metrics(
        self, items: Sequence[Item], lls: Sequence[np.ndarray], variant: str, stage: str, **kw: Any
    ) -> list[MetricRow]:
        values = accuracy_values(items, lls)
        keys = ["rung", "query_type", "graph_id", "variant"]
        return breakdown(values, items, "cladder/accuracy", keys, variant, stage, **kw)
