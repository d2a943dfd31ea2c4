"""Answering yes/no causal questions by likelihood, as Kiciman et al. 2023 score options:
" yes" vs " no" after a prompt that a prompting strategy builds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from causal_llm.config import require
from causal_llm.scm import SCM
from causal_llm.testbed import Question


@dataclass(frozen=True)
class PromptingConfig:
    batch_size: int = 16  # scoring batch; values do not depend on it beyond float rounding

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, "batch_size must be >= 1")


def answer_by_likelihood(
    model: Any,
    tokenizer: Any,
    questions: Sequence[Question],
    scm: SCM,
    build: Callable[[Question, SCM], str],
    batch_size: int,
) -> list[dict]:
    """One row per question: the answer whose LL after ``build(question)`` is higher."""
    from causal_llm.scoring import loglikelihoods

    prompts = [build(q, scm) for q in questions]
    requests = [(p, " yes") for p in prompts] + [(p, " no") for p in prompts]
    ll = loglikelihoods(model, tokenizer, requests, batch_size)
    ll_yes, ll_no = ll[: len(prompts)], ll[len(prompts) :]
    rows = []
    for q, y, n in zip(questions, ll_yes, ll_no, strict=True):
        predicted = "yes" if y > n else "no"
        rows.append(
            {
                "question_id": q.id,
                "rung": q.rung,
                "query_type": q.query_type,
                "answer": q.answer,
                "predicted": predicted,
                "correct": int(predicted == q.answer),
                "ll_yes": float(y),
                "ll_no": float(n),
            }
        )
    return rows
