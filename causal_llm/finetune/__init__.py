"""The fine-tuning stage: a model (an upstream variant or a pretrained one) tuned on instructions.

A fine-tuning method is ``fn(ctx, inputs, cfg, seed) -> summary``, run on every Ray Train worker;
``inputs["base"]`` is the folder (or id) of the model named by ``from:``, ``inputs["stories"]`` the
testbed's training stories (text and occupation). Rank 0 saves a self-contained bundle
(``causal_llm.models.loading.save_bundle``) in ``ctx.output_dir``. Register one with
``@FINETUNE_METHODS.method(name, Config)``.
"""

from __future__ import annotations

from causal_llm.lifecycle import StageSpec
from causal_llm.registry import MethodRegistry
from causal_llm.training.config import TrainStageSettings

FINETUNE_METHODS = MethodRegistry("finetune", package=__name__)

STAGE = StageSpec(
    "finetune",
    FINETUNE_METHODS,
    TrainStageSettings,
    starts_from=("pretrain", "finetune"),
    external_models=True,
    trains=True,
    code=(
        "causal_llm.finetune.stage",
        "causal_llm.training.loop",
        "causal_llm.training.context",
        "causal_llm.training.ray_edge",
        "causal_llm.training.ray_worker",
        "causal_llm.models.loading",
        "causal_llm.models.lora",
    ),
    description="LoRA SFT of a base model: plain SFT, counterfactual SFT, ... (Ray Train)",
)
