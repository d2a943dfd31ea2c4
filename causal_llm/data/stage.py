"""The data stage's nodes: the testbed (shared by every variant) and one corpus per data variant."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from causal_llm.corpus import read_json, read_jsonl, read_texts, write_json, write_jsonl
from causal_llm.dag import TESTBED, Lifecycle, Node, corpus_file, metrics_file
from causal_llm.metrics import mean_row
from causal_llm.testbed import (
    FEMALE,
    OCCUPATIONS,
    Question,
    Unit,
    generate_questions,
    heldout_units,
    split_stories,
)
from causal_llm.timing import timed

STORY_FIELDS = {
    "text": str,
    "gender": int,
    "occupation": int,
    "occupation_name": str,
    "experience": int,
    "training": int,
    "skill": int,
    "promotion": int,
    "region": int,
    "name": str,
    "template": int,
}


def log(node: str, message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {node}: {message}", flush=True)


def read_stories(split: str, folder: Path = TESTBED) -> pd.DataFrame:
    return pd.DataFrame(read_jsonl(folder / f"{split}.jsonl", STORY_FIELDS))


def read_heldout_units(folder: Path = TESTBED) -> set[Unit]:
    """The (template, occupation) combinations no training story uses."""
    return {tuple(u) for u in read_json(folder / "heldout_units.json")["units"]}  # type: ignore[misc]


def read_questions(folder: Path = TESTBED) -> list[Question]:
    fields = {"id": str, "rung": int, "query_type": str, "text": str, "answer": str, "truth": float}
    return [Question(**row) for row in read_jsonl(folder / "questions.jsonl", fields)]


def stereotype_share(texts: list[str]) -> np.ndarray:
    """Per testbed story: 1 if its pronouns match its occupation's stereotype, read from the text alone
    (so it measures any data method's output); texts naming no testbed occupation are left out."""
    stereo = {occ: g == FEMALE for occ, g in OCCUPATIONS}
    out = []
    for text in texts:
        words = text.lower().replace(".", " ").split()
        occ = next((w for w in words if w in stereo), None)
        if occ is not None:
            out.append(float((words.count("she") > words.count("he")) == stereo[occ]))
    return np.array(out)


def run_testbed(node: Node, lc: Lifecycle) -> None:
    """Stories from the SCM, split by whole template x occupation combinations (no held-out story's
    opening sentence is in a training story), and the rung 1-3 questions with exact answers."""
    cfg, seed = lc.params.data, lc.params.seed
    with timed("compute", node.id):
        units = heldout_units(seed)
        n_heldout = int(cfg.n_stories * cfg.heldout_fraction)
        train, heldout = split_stories(cfg.spurious_strength, cfg.n_stories - n_heldout, n_heldout, seed, units)
        questions = generate_questions(cfg.spurious_strength)
        write_jsonl(TESTBED / "train.jsonl", train.to_dict("records"))
        write_jsonl(TESTBED / "heldout.jsonl", heldout.to_dict("records"))
        write_json(TESTBED / "heldout_units.json", {"units": sorted(units)})
        write_jsonl(TESTBED / "questions.jsonl", (q.__dict__ for q in questions))
    log(node.id, f"{len(train)} train / {len(heldout)} held-out stories ({len(units)} held-out combinations)")


def corpus_texts(params: Any) -> list[str]:
    """The testbed's training stories plus ``data.corpus_file``: what every data method starts from."""
    texts = list(read_stories("train")["text"])
    return texts + (read_texts(params.data.corpus_file) if params.data.corpus_file else [])


def run(node: Node, lc: Lifecycle) -> None:
    """One data variant: its method applied to the training stories, and the association it carries."""
    if node.id == "testbed":
        return run_testbed(node, lc)
    params = lc.params
    variant = params.variant(node.id)
    method = variant.method_spec()
    texts = corpus_texts(params)
    with timed("compute", node.id):
        corpus = method.run(texts, variant.config, params.seed)
        write_jsonl(corpus_file(node.id), ({"text": t} for t in corpus))
        kw = params.evaluate.bootstrap_args(params.seed)
        row = mean_row(stereotype_share(corpus), node.id, "data", "stereotype_share", **kw)
    write_json(metrics_file(node.id), {"rows": [row.to_dict()], "n_texts": len(corpus), "n_input": len(texts)})
    log(node.id, f"{variant.method}: {len(texts)} -> {len(corpus)} texts, stereotype share {row.value:.3f}")
