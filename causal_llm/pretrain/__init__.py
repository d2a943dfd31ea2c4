"""The pre-training stage: a language model trained on a data variant's corpus.

A pre-training method is ``fn(ctx, inputs, cfg, seed) -> summary``, run on every Ray Train worker
(``ctx`` is a ``causal_llm.training.context.TrainContext``); ``inputs["texts"]`` is the corpus of the
data variant named by ``from:``. Rank 0 saves the model (safetensors and tokenizer) in
``ctx.output_dir``. Register one with ``@PRETRAIN_METHODS.method(name, Config)``.
"""

from __future__ import annotations

from causal_llm.lifecycle import StageSpec
from causal_llm.registry import MethodRegistry
from causal_llm.training.config import TrainStageSettings

PRETRAIN_METHODS = MethodRegistry("pretrain", package=__name__)

STAGE = StageSpec(
    "pretrain",
    PRETRAIN_METHODS,
    TrainStageSettings,
    starts_from=("data",),
    trains=True,
    code=(
        "causal_llm.pretrain.stage",
        "causal_llm.training.loop",
        "causal_llm.training.context",
        "causal_llm.training.ray_edge",
        "causal_llm.training.ray_worker",
        "causal_llm.models.tiny",
        "causal_llm.models.loading",
    ),
    description="Tokenizer and GPT-2-style model from scratch on each corpus variant (Ray Train)",
)
