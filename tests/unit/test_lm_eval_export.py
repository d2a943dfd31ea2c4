"""The lm-evaluation-harness export: lm-eval itself loads the task and asks for the same
log-likelihoods as ``causal_llm.scoring``, item by item and choice by choice.

lm-eval's start-up is the slow part: indexing its ~thousands of built-in task YAMLs costs ~12 s here,
so the TaskManager is built with ``include_defaults=False`` (the include path is loaded the same way);
the whole file then runs in ~5 s beyond the model fixtures.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from causal_llm.benchmarks.base import FORMATS, Item, RowErrors
from causal_llm.benchmarks.lm_eval_export import export_lm_eval_task
from causal_llm.scoring import loglikelihoods

COPA_ROWS = [
    {
        "premise": "The nurse said that she was ready for work.",
        "choice1": "She liked the new job.",
        "choice2": "She took the course.",
        "question": "cause",
        "label": 1,
        "idx": 0,
    },
    {
        "premise": 'The pilot said "he" had arrived early.',
        "choice1": "He was happy.",
        "choice2": "The mechanic was ready for work — café.",
        "question": "effect",
        "label": 0,
        "idx": 1,
    },
    {
        "premise": "The engineer took the course.",
        "choice1": "The engineer liked the new job.",
        "choice2": "The secretary was happy.",
        "question": "effect",
        "label": 0,
        "idx": 2,
    },
]


def copa_items(tmp_path) -> list[Item]:
    import causal_llm.benchmarks.copa  # noqa: F401  (registers the format)

    path = tmp_path / "copa.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in COPA_ROWS) + "\n", encoding="utf-8")
    form = FORMATS.get("copa")
    rows = RowErrors(path, form.name, form.expects)
    items = form.read(path, rows)
    assert len(items) == len(COPA_ROWS) and not rows.malformed
    return items


def pair_items(sentences: list[str]) -> list[Item]:
    """CrowS-Pairs-like: empty context, two whole sentences, scored conditioned on BOS/EOS."""
    she = [s for s in sentences if " she " in s][::7]
    assert len(she) >= 3
    return [Item(f"pair-{k}", "", (s, s.replace(" she ", " he ")), k % 2, {}) for k, s in enumerate(she)]


def test_export_writes_jsonl_and_yaml(tmp_path):
    items = [Item("q1", 'Say "hi" — ok?', (" yes", " no"), 1, {"rung": 1}), *copa_items(tmp_path)]
    yaml_path = export_lm_eval_task(items, "causal_demo", tmp_path / "tasks")
    config = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    data = tmp_path / "tasks" / "causal_demo.jsonl"
    assert config["task"] == "causal_demo" and config["output_type"] == "multiple_choice"
    assert config["dataset_path"] == "json" and config["test_split"] == "test"
    assert config["dataset_kwargs"] == {"data_files": {"test": str(data.resolve())}}
    assert (config["doc_to_text"], config["doc_to_choice"], config["doc_to_target"]) == (
        "{{context}}",
        "{{choices}}",
        "label",
    )
    assert config["target_delimiter"] == "" and config["metric_list"][0]["metric"] == "acc"
    assert config["metadata"]["version"] == 1.0 and len(config["metadata"]["data_sha256"]) == 64
    docs = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    assert docs[0] == {"context": 'Say "hi" — ok?', "choices": [" yes", " no"], "label": 1, "id": "q1"}
    assert [d["choices"] for d in docs[1:]] == [list(i.choices) for i in items[1:]]
    with pytest.raises(ValueError, match="letters, digits"):
        export_lm_eval_task(items, "bad name/x", tmp_path)
    with pytest.raises(ValueError, match="no items"):
        export_lm_eval_task([], "empty", tmp_path)


def test_lm_eval_scores_the_export_as_we_do(tmp_path, monkeypatch, make_tiny_model, tiny_tokenizer, sentences):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets.config

    # datasets reads these at import time (maybe earlier in the session): patch the live values too,
    # and keep its cache out of the home folder
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    tasks = {"copa_export": copa_items(tmp_path), "pairs_export": pair_items(sentences)}
    out_dir = tmp_path / "tasks"
    for name, items in tasks.items():
        export_lm_eval_task(items, name, out_dir)
    manager = TaskManager(include_path=str(out_dir), include_defaults=False)
    assert set(tasks) <= set(manager.all_tasks)

    model = make_tiny_model(seed=3)
    lm = HFLM(pretrained=model, tokenizer=tiny_tokenizer, batch_size=4, device="cpu")
    results = lm_eval.simple_evaluate(
        model=lm, tasks=list(tasks), task_manager=manager, log_samples=True, bootstrap_iters=0
    )
    for name, items in tasks.items():
        samples = {s["doc"]["id"]: s for s in results["samples"][name]}
        assert set(samples) == {item.id for item in items}
        ours = loglikelihoods(model, tiny_tokenizer, [r for item in items for r in item.requests()], 3)
        theirs = []
        for item in items:
            sample = samples[item.id]
            assert [tuple(a) for a in sample["arguments"]] == item.requests()  # same (context, choice) pairs
            theirs += [float(ll) for ll, _greedy in sample["filtered_resps"]]
            assert [r[0][0] for r in sample["resps"]] == [ll for ll, _ in sample["filtered_resps"]]
        np.testing.assert_allclose(theirs, ours, atol=1e-4, rtol=0)
        correct = [int(np.argmax(ours[2 * k : 2 * k + 2]) == item.label) for k, item in enumerate(items)]
        assert results["results"][name]["acc,none"] == pytest.approx(np.mean(correct))
