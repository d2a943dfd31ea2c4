"""An inference variant's node: its method applied to every model it names, one answer per question.

Rows: ``<variant>/accuracy`` per model, with ``/rung=<r>`` and ``/query_type=<t>`` breakdowns, each
with a bootstrap CI over the questions.
"""

from __future__ import annotations

import numpy as np

from causal_llm.corpus import write_json, write_jsonl
from causal_llm.dag import Lifecycle, Node, infer_dir, metrics_file
from causal_llm.data.stage import log, read_questions
from causal_llm.metrics import MetricRow, mean_row
from causal_llm.testbed import build_scm
from causal_llm.timing import timed


def accuracy_rows(answers: list[dict], metric: str, model: str, stage: str, kw: dict) -> list[MetricRow]:
    correct = np.array([a["correct"] for a in answers], dtype=float)
    rows = [mean_row(correct, model, stage, f"{metric}/accuracy", **kw)]
    for key in ("rung", "query_type"):
        for value in sorted({a[key] for a in answers}, key=str):
            picked = np.array([a["correct"] for a in answers if a[key] == value], dtype=float)
            rows.append(mean_row(picked, model, stage, f"{metric}/accuracy/{key}={value}", **kw))
    return rows


def run(node: Node, lc: Lifecycle) -> None:
    from causal_llm.models.loading import load_model, load_tokenizer

    params = lc.params
    variant = params.variant(node.id)
    method = variant.method_spec()
    questions, scm = read_questions(), build_scm(params.data.spurious_strength)
    kw = params.evaluate.bootstrap_args(params.seed)
    answers, rows = [], []
    for model in lc.infer_models(variant):
        net, tokenizer = load_model(model.ref), load_tokenizer(model.ref)
        with timed("compute", node.id, model=model.label):
            mine = method.run(net, tokenizer, questions, scm, variant.config)
        answers += [{"model": model.label, "variant": variant.name, **a} for a in mine]
        rows += accuracy_rows(mine, variant.name, model.label, model.stage, kw)
        log(node.id, f"{model.label}: {np.mean([a['correct'] for a in mine]):.3f} correct")
    write_jsonl(infer_dir(node.id) / "answers.jsonl", answers)
    write_json(metrics_file(node.id), {"rows": [r.to_dict() for r in rows]})
