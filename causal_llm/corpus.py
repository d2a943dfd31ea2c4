"""Reading and writing JSONL corpora, with every malformed line reported by file and line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from causal_llm.config import InputError


class CorpusError(InputError):
    """A corpus file that cannot be used; the message names file, line and fix."""


def read_jsonl(path: str | Path, required: Mapping[str, type] | None = None) -> list[dict[str, Any]]:
    """Read a JSONL file whose rows must carry ``required`` fields of the given types."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: file not found. Check the path in params.yaml or run the stage that writes it.")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise CorpusError(
                    f"{path}:{lineno}: not valid JSON ({err.msg}). Each line must be one JSON object."
                ) from None
            if not isinstance(row, dict):
                raise CorpusError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}.")
            for field, tp in (required or {}).items():
                if field not in row:
                    raise CorpusError(f"{path}:{lineno}: missing field '{field}'. Every line needs {list(required)}.")
                if not isinstance(row[field], tp):
                    got = type(row[field]).__name__
                    raise CorpusError(f"{path}:{lineno}: field '{field}' must be {tp.__name__}, got {got}.")
            rows.append(row)
    if not rows:
        raise CorpusError(f"{path}: no rows. The file is empty.")
    return rows


def read_texts(path: str | Path) -> list[str]:
    return [row["text"] for row in read_jsonl(path, {"text": str})]


def write_jsonl(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write atomically: a crash mid-write never leaves a half file where a good one stood."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: file not found. Run the stage that writes it (dvc repro or causal-llm run).")
    return json.loads(path.read_text())
