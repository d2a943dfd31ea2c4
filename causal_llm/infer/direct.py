"""Direct prompting: the question alone, answered yes or no (the baseline strategy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from causal_llm.infer import INFER_METHODS
from causal_llm.infer.prompting import PromptingConfig, answer_by_likelihood
from causal_llm.scm import SCM
from causal_llm.testbed import Question


@dataclass(frozen=True)
class DirectConfig(PromptingConfig):
    pass


def direct_prompt(question: Question, scm: SCM) -> str:
    return f"Question: {question.text}\nAnswer (yes or no):"


@INFER_METHODS.method("direct", DirectConfig)
def direct(model: Any, tokenizer: Any, questions: list[Question], scm: SCM, cfg: DirectConfig) -> list[dict]:
    """The question alone; the answer is the likelier of " yes" and " no"."""
    return answer_by_likelihood(model, tokenizer, questions, scm, direct_prompt, cfg.batch_size)
