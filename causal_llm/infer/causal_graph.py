"""Causal-graph prompting: the model is given the causal graph before the question (step 1 of
CausalCoT, Jin et al. 2023; docs/methods.md#prompting-strategies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from causal_llm.infer import INFER_METHODS
from causal_llm.infer.prompting import PromptingConfig, answer_by_likelihood
from causal_llm.scm import SCM
from causal_llm.testbed import Question, describe_graph


@dataclass(frozen=True)
class CausalGraphConfig(PromptingConfig):
    pass


def causal_graph_prompt(question: Question, scm: SCM) -> str:
    return f"{describe_graph(scm)}\nQuestion: {question.text}\nAnswer (yes or no):"


@INFER_METHODS.method("causal_graph", CausalGraphConfig)
def causal_graph(model: Any, tokenizer: Any, questions: list[Question], scm: SCM, cfg: CausalGraphConfig) -> list[dict]:
    """The testbed's causal graph in words, then the question; the likelier of " yes" and " no"."""
    return answer_by_likelihood(model, tokenizer, questions, scm, causal_graph_prompt, cfg.batch_size)
