"""The alignment stage: a fine-tuned model aligned with preference data.

An alignment method is ``fn(ctx, inputs, cfg, seed) -> summary``, run on every Ray Train worker;
``inputs["base"]`` is the folder (or id) of the model named by ``from:``, ``inputs["stories"]`` the
testbed's training stories, from which the method builds its preference data. Rank 0 saves a
self-contained bundle in ``ctx.output_dir``. Register one with ``@ALIGN_METHODS.method(name, Config)``.
"""

from __future__ import annotations

from causal_llm.lifecycle import StageSpec
from causal_llm.registry import MethodRegistry
from causal_llm.training.config import TrainStageSettings

ALIGN_METHODS = MethodRegistry("align", package=__name__)

STAGE = StageSpec(
    "align",
    ALIGN_METHODS,
    TrainStageSettings,
    starts_from=("finetune", "align"),
    external_models=True,
    trains=True,
    code=(
        "causal_llm.align.stage",
        "causal_llm.training.context",
        "causal_llm.training.ray_edge",
        "causal_llm.training.ray_worker",
        "causal_llm.models.loading",
        "causal_llm.models.lora",
        "causal_llm.scoring",
    ),
    description="Preference alignment of a fine-tuned model: DPO on counterfactual pairs, ... (Ray Train)",
)
