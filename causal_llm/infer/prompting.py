"""Inference: the models answer the testbed's yes/no causal questions under a prompting strategy.

The answer is read by likelihood, as Kiciman et al. 2023 score options: " yes" vs " no" after the
prompt. Strategies are registered by name; ``causal_graph`` gives the model the causal graph first
(step 1 of CausalCoT, Jin et al. 2023), ``direct`` asks the question alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from causal_llm.registry import Registry
from causal_llm.scm import SCM
from causal_llm.scoring import loglikelihoods
from causal_llm.testbed import Question, describe_graph

PROMPTS: Registry[Callable[[Question, SCM], str]] = Registry("prompting strategy")


@PROMPTS.register("direct")
def direct_prompt(question: Question, scm: SCM) -> str:
    return f"Question: {question.text}\nAnswer (yes or no):"


@PROMPTS.register("causal_graph")
def causal_graph_prompt(question: Question, scm: SCM) -> str:
    return f"{describe_graph(scm)}\nQuestion: {question.text}\nAnswer (yes or no):"


def answer_questions(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[Question],
    scm: SCM,
    strategy: str,
    batch_size: int = 16,
) -> list[dict]:
    build = PROMPTS.get(strategy)
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
                "strategy": strategy,
                "answer": q.answer,
                "predicted": predicted,
                "correct": int(predicted == q.answer),
                "ll_yes": float(y),
                "ll_no": float(n),
            }
        )
    return rows
