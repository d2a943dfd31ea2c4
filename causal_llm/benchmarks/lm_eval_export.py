"""Export benchmark items as an lm-evaluation-harness task (Gao et al., EleutherAI, lm-eval 0.4).

The items go to ``<name>.jsonl`` (``context``, ``choices``, ``label``, ``id``) and a ``<name>.yaml``
multiple-choice task reads them through the ``json`` dataset builder. lm-eval then asks for
LL(choice | context) exactly as ``causal_llm.scoring`` does: the choices carry their own leading
spaces, so the target delimiter is empty. Run it with
``lm_eval --include_path <out_dir> --tasks <name> ...``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from causal_llm.benchmarks.base import Item

TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def task_config(name: str, data_file: Path, data_sha256: str) -> dict:
    return {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file.resolve())}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "{{context}}",
        "doc_to_choice": "{{choices}}",
        "doc_to_target": "label",
        "target_delimiter": "",  # our choices carry their own leading space
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0, "data_sha256": data_sha256},
    }


def export_lm_eval_task(items: Sequence[Item], name: str, out_dir: str | Path) -> Path:
    """Write ``<name>.jsonl`` and ``<name>.yaml`` under ``out_dir``; returns the YAML's path."""
    if not TASK_NAME.fullmatch(name):
        raise ValueError(f"task name {name!r}: use letters, digits, '_', '-' and '.' only (e.g. 'copa_dev')")
    if not items:
        raise ValueError(f"no items to export for task {name!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_file = out_dir / f"{name}.jsonl"
    lines = [
        # ASCII escapes: U+2028 and friends would otherwise sit raw inside a line
        json.dumps({"context": item.context, "choices": list(item.choices), "label": item.label, "id": item.id})
        for item in items
    ]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    data_file.write_bytes(data)
    config = task_config(name, data_file, hashlib.sha256(data).hexdigest())
    yaml_file = out_dir / f"{name}.yaml"
    yaml_file.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return yaml_file
