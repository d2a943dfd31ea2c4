"""CLadder: yes/no causal questions on all three rungs of Pearl's ladder (Jin et al. 2023, "CLadder:
Assessing Causal Reasoning in Language Models", NeurIPS; data and code: github.com/causalNLP/cladder).

Each question comes from a Bayesian network over binary variables in one of ten graph families. A
questions file is a JSON array of ``{question_id, desc_id, given_info, question, answer, meta{rung,
query_type, graph_id, story_id, model_id, ...}, reasoning}`` (JSONL with the same fields per line is
accepted too). The story's ``background`` (the causal graph in words) is not in the question: it is
in ONE model metadata file per split, a JSON array of ``{model_id, story_id, graph_id, background,
variable_mapping, structure, params, groundtruth, ...}`` (an object keyed by model_id is accepted).
The pairing is read from the file name, as the authors publish it, and nothing else is guessed:

- ``data/<split>-generate-<variant>.json`` (``test-generate-easy.json``) -> ``data/<split>-model-meta.json``;
- ``cladder-v1-<set>.json`` (``cladder-v1-aggregate.json``, ``cladder-v1-q-easy.json``, in the release
  zip) -> ``cladder-v1-meta-models.json``;
- any other ``<stem>.json`` (this package's generator) -> ``<stem>-meta-models.json``.

Another metadata file is named explicitly: ``cladder:PATH?meta=META`` (``evaluate.benchmarks``,
``--benchmark``). Questions that carry their own ``background`` (the authors' generator with
``include-background``) need no metadata file.

Prompt = background + " " + given_info + " " + question + "\\nAnswer (yes or no):", choices " yes" and
" no"; the prediction is the choice with the higher log-likelihood. Accuracy overall and per rung,
query type, graph and variant (``meta.variant`` where the generator writes it, else the file name's
``<variant>``: easy, hard, anti, non, det in the authors' ``data/``).
"""

from __future__ import annotations

import json
import re
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
GENERATE_STEM = re.compile(r"(?P<split>.+)-generate-(?P<variant>.+)")  # causalNLP/cladder data/
RELEASE_STEM = re.compile(r"(?P<release>cladder-v\d+(?:\.\d+)*)-(?:q-(?P<variant>[^-]+)|.+)")  # cladder-v1.zip
LAYOUTS = (
    "<split>-model-meta.json beside <split>-generate-<variant>.json, cladder-v1-meta-models.json beside "
    "cladder-v1-<set>.json, <stem>-meta-models.json beside any other <stem>.json"
)


def paired_metadata(path: Path) -> Path:
    """The model metadata file published with the questions file ``path`` (it may be missing)."""
    stem = path.name.removesuffix(path.suffix)
    if match := GENERATE_STEM.fullmatch(stem):
        return path.with_name(f"{match['split']}-model-meta.json")
    if match := RELEASE_STEM.fullmatch(stem):
        return path.with_name(f"{match['release']}-meta-models.json")
    return path.with_name(f"{stem}-meta-models.json")


def file_variant(path: Path) -> str | None:
    """The story variant a file name states: ``<split>-generate-<variant>``, ``cladder-v1-q-<variant>``."""
    stem = path.name.removesuffix(path.suffix)
    match = GENERATE_STEM.fullmatch(stem) or RELEASE_STEM.fullmatch(stem)
    return match["variant"] if match else None


def find_model_metadata(path: Path, meta: str | Path | None = None) -> Path | None:
    """The metadata file for ``path``: ``meta`` when given (it must exist), else the published pairing
    when that file exists, else None."""
    if meta is not None:
        meta_path = Path(meta)
        if not meta_path.is_file():
            raise BenchmarkFormatError(
                f"{meta_path}: CLadder model metadata file not found (given as ?meta= for {path}). Fix the path; "
                f"the authors publish it as {paired_metadata(path).name} beside the questions."
            )
        return meta_path
    candidate = paired_metadata(path)
    if candidate.is_file() and candidate.resolve() != path.resolve():
        return candidate
    return None


def load_model_metadata(meta_path: Path) -> dict[str, dict[str, Any]]:
    """model_id (as a string) -> the model entry, from a JSON array of models or an object keyed by
    model_id. A file that is not model metadata is an error naming it, never an empty table."""
    fix = f"pass the questions' own model metadata file ({LAYOUTS}, or cladder:PATH?meta=FILE)"
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BenchmarkFormatError(f"{meta_path}: CLadder model metadata is not valid JSON ({err}); {fix}") from err
    if isinstance(data, dict):
        entries: list[tuple[str | None, Any]] = list(data.items())
    elif isinstance(data, list):
        entries = [(None, value) for value in data]
    else:
        raise BenchmarkFormatError(
            f"{meta_path}: CLadder model metadata must be a JSON array of models (or an object keyed by model_id), "
            f"not a JSON {type(data).__name__}; {fix}"
        )
    out: dict[str, dict[str, Any]] = {}
    for index, (key, model) in enumerate(entries, 1):
        where = f"entry {key!r}" if key is not None else f"entry {index}"
        if not isinstance(model, dict):
            raise BenchmarkFormatError(
                f"{meta_path}: {where} is a JSON {type(model).__name__}, not a model object; {fix}"
            )
        if SIGNATURE & model.keys():
            raise BenchmarkFormatError(
                f"{meta_path}: holds CLadder questions (fields {sorted(SIGNATURE & model.keys())}), not model "
                f"metadata; {fix}"
            )
        model_id = model.get("model_id", key)
        if model_id is None or isinstance(model_id, bool | dict | list):
            raise BenchmarkFormatError(f"{meta_path}: {where} has no model_id (fields {sorted(model)[:10]}); {fix}")
        if str(model_id) in out:
            raise BenchmarkFormatError(f"{meta_path}: model_id {model_id!r} is listed twice; list each model once")
        out[str(model_id)] = model
    if not out:
        raise BenchmarkFormatError(f"{meta_path}: CLadder model metadata lists no models; {fix}")
    return out


def _rung(meta: Mapping[str, Any]) -> int:
    value = meta.get("rung")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return choice_field({"meta.rung": value}, "meta.rung", {1: 1, 2: 2, 3: 3})


def _meta_text(meta: Mapping[str, Any], key: str) -> str:
    return text_field({f"meta.{key}": meta.get(key)}, f"meta.{key}")


def _own_background(question: Any) -> bool:
    """Whether a question carries its background (the authors' generator with include-background)."""
    return isinstance(question, dict) and isinstance(question.get("background"), str) and bool(question["background"])


@register_format
class CLadder(BenchmarkFormat):
    name: ClassVar[str] = "cladder"
    expects: ClassVar[str] = (
        "CLadder questions: a JSON array (or JSONL) of objects with question_id, given_info, question, answer "
        "(yes/no) and meta {rung, query_type, graph_id, story_id, model_id}, with the backgrounds in the split's "
        f"model metadata file ({LAYOUTS}; or cladder:PATH?meta=FILE)"
    )
    suffixes: ClassVar[tuple[str, ...]] = (".json", ".jsonl")
    options: ClassVar[tuple[str, ...]] = ("meta",)  # cladder:PATH?meta=FILE: the model metadata file
    definitions: ClassVar[dict[str, str]] = {
        "cladder/accuracy": "share of questions where the higher of LL(' yes') and LL(' no') given background + "
        "given_info + question + '\\nAnswer (yes or no):' is the official answer"
    }

    def companions(self, path: Path, meta: str | Path | None = None) -> list[Path]:
        """The files read besides ``path`` (the model metadata): part of the benchmark's data hash."""
        found = find_model_metadata(path, meta)
        return [found] if found else []

    def read(self, path: Path, rows: RowErrors, meta: str | Path | None = None) -> list[Item]:
        questions = list(self._questions(path, rows))  # first: a file of another format is told so
        meta_path = find_model_metadata(path, meta)
        if meta_path is None and questions and not any(_own_background(q) for _, q in questions):
            expected = paired_metadata(path)
            raise BenchmarkFormatError(
                f"{path}: the questions carry no background and their model metadata file {expected.name} is not in "
                f"{path.parent}. The authors publish one per split ({LAYOUTS}): put it there, or name it with "
                f"cladder:{path}?meta=FILE."
            )
        models = load_model_metadata(meta_path) if meta_path else {}
        missing = f"not in {meta_path.name}" if meta_path else f"no {paired_metadata(path).name} beside the file"
        variant = file_variant(path)
        items = []
        for line, question in questions:
            try:
                items.append(self._item(question, models, meta_path, missing, variant))
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

    def _item(
        self,
        q: Any,
        models: Mapping[str, Mapping[str, Any]],
        meta_path: Path | None,
        missing: str,
        default_variant: str | None,
    ) -> Item:
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
        # meta.variant is this package's generator's; the authors' files state the variant in their name
        variant = meta["variant"] if isinstance(meta.get("variant"), str) and meta["variant"] else default_variant
        if variant is not None:
            item_meta["variant"] = variant
        model = models.get(str(model_id))
        source = meta_path.name if meta_path else "the model metadata"
        for key in ("story_id", "graph_id"):  # a metadata file of another split gives the wrong story
            if model is not None and key in model and key in meta and str(model[key]) != str(meta[key]):
                raise RowError(
                    f"model_id {model_id!r} is {key} {model[key]!r} in {source} but {meta[key]!r} in the question: "
                    "pass the questions' own model metadata file"
                )
        background = model.get("background") if model is not None else None
        if not isinstance(background, str) or not background.strip():
            if not _own_background(q):
                reason = f"no 'background' in {source}" if model is not None else missing
                raise RowError(f"no background for model_id {model_id!r} ({reason})")
            background = q["background"]
        prompt = " ".join(part.strip() for part in (background, given_info, question) if part.strip())
        return Item(str(qid), prompt + ANSWER_SUFFIX, CHOICES, label, item_meta)

    def metrics(
        self, items: Sequence[Item], lls: Sequence[np.ndarray], variant: str, stage: str, **kw: Any
    ) -> list[MetricRow]:
        values = accuracy_values(items, lls)
        keys = ["rung", "query_type", "graph_id", "variant"]
        return breakdown(values, items, "cladder/accuracy", keys, variant, stage, **kw)
