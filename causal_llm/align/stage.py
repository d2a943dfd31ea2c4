"""An alignment variant's node: its method on the model it starts from, on Ray Train."""

from __future__ import annotations

from causal_llm.dag import Lifecycle, Node
from causal_llm.data.stage import log
from causal_llm.training.jobs import model_inputs, train_node


def run(node: Node, lc: Lifecycle) -> None:
    variant, starts_from = lc.variant_of(node.id), lc.starts_from(node.id)
    inputs, reads, files = model_inputs(lc, node.id)
    log(node.id, f"{variant.method} from {starts_from[0]}, Ray Train")
    s = train_node(node, lc, inputs, reads, files)
    shift = (
        f", preference margin {s['margin_reference']:.3f} -> {s['margin_policy']:.3f}" if "margin_policy" in s else ""
    )
    log(node.id, f"loss {s['loss_first']:.3f} -> {s['loss_last']:.3f}{shift}")
