"""A pre-training variant's node: its method trained on its data variant's corpus, on Ray Train."""

from __future__ import annotations

from causal_llm.corpus import read_texts
from causal_llm.dag import Lifecycle, Node, corpus_file
from causal_llm.data.stage import log
from causal_llm.training.jobs import train_node


def run(node: Node, lc: Lifecycle) -> None:
    variant, starts_from = lc.variant_of(node.id), lc.starts_from(node.id)
    corpus = corpus_file(starts_from[0])
    texts = read_texts(corpus)
    log(node.id, f"{variant.method} on {starts_from[0]} ({len(texts)} texts), Ray Train")
    s = train_node(node, lc, {"texts": texts}, [corpus])
    log(node.id, f"loss {s['loss_first']:.3f} -> {s['loss_last']:.3f}, {s['tokens_per_s']:.0f} tokens/s in the loop")
