"""The inference stage: inference-time methods (prompting strategies, ...) applied to trained models.

An inference method is ``fn(model, tokenizer, questions, scm, cfg) -> answers``: the testbed's rung
1-3 questions (``causal_llm.testbed.Question``, each with its exact answer) answered by one model,
one row per question with ``predicted`` and ``correct``. A variant names the models it runs on in
``from:`` (a list, or ``all``: every model of the lifecycle and the pretrained model it starts
from). Register one with ``@INFER_METHODS.method(name, Config)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from causal_llm.lifecycle import StageSpec
from causal_llm.registry import MethodRegistry

INFER_METHODS = MethodRegistry("infer", package=__name__)


@dataclass(frozen=True)
class InferSettings:
    """The inference stage has no shared settings beyond its variants."""


STAGE = StageSpec(
    "infer",
    INFER_METHODS,
    InferSettings,
    starts_from=("pretrain", "finetune", "align"),
    external_models=True,
    many=True,
    code=("causal_llm.infer.stage", "causal_llm.infer.prompting", "causal_llm.scoring", "causal_llm.models.loading"),
    description="Every model answers the testbed's rung 1-3 questions under each inference method",
)
