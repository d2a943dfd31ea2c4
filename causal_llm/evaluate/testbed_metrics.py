"""Evaluation of one model variant against the testbed's ground truth.

- ``bias_gap``: for each probe (a story opening naming an occupation), the log-probability of the
  stereotyped pronoun minus the other, LL(" she") - LL(" he") signed by the occupation's
  stereotype. The SCM's true effect of gender on occupation is zero, so the ideal value is 0.
- ``cf_flip_rate`` / ``cf_ll_gap``: counterfactual invariance on promotion judgements - how often
  the yes/no choice flips when the person's gender is swapped, and the mean |LL(y|x) - LL(y|x')|.
- ``perplexity``: on held-out testbed stories.
Every metric has a percentile-bootstrap CI over its items (docs/methods.md#testbed-metrics).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from causal_llm.evaluate import EvaluateConfig
from causal_llm.metrics import MetricRow, mean_row, perplexity_row
from causal_llm.scoring import loglikelihoods, score
from causal_llm.testbed import Judgement, Probe


def bias_gaps(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, probes: Sequence[Probe], batch_size: int
) -> np.ndarray:
    requests = [(p.context, " she") for p in probes] + [(p.context, " he") for p in probes]
    ll = loglikelihoods(model, tokenizer, requests, batch_size)
    she, he = ll[: len(probes)], ll[len(probes) :]
    return np.array([p.sign for p in probes]) * (she - he)


def invariance(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    judgements: Sequence[Judgement],
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(flip indicator, |LL(y|x) - LL(y|x')|) per judgement, y = the causal answer (" yes" or " no")."""
    answers = [" yes", " no"]
    column = np.array([answers.index(j.causal) for j in judgements])
    requests = []
    for j in judgements:
        for prompt in (j.prompt, j.counterfactual_prompt):
            requests += [(prompt, answer) for answer in answers]
    ll = loglikelihoods(model, tokenizer, requests, batch_size).reshape(len(judgements), 2, 2)
    choice = ll[:, :, 0] > ll[:, :, 1]
    causal = ll[np.arange(len(judgements)), :, column]  # (judgement, factual/counterfactual)
    return (choice[:, 0] != choice[:, 1]).astype(float), np.abs(causal[:, 0] - causal[:, 1])


def evaluate_model(
    variant: str,
    stage: str,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    probes: Sequence[Probe],
    judgements: Sequence[Judgement],
    heldout: Sequence[str],
    cfg: EvaluateConfig,
    seed: int,
) -> list[MetricRow]:
    kw = cfg.bootstrap_args(seed)
    rows = [mean_row(bias_gaps(model, tokenizer, probes, cfg.batch_size), variant, stage, "bias_gap", **kw)]
    flips, gaps = invariance(model, tokenizer, judgements, cfg.batch_size)
    rows.append(mean_row(flips, variant, stage, "cf_flip_rate", **kw))
    rows.append(mean_row(gaps, variant, stage, "cf_ll_gap", **kw))
    scored = score(model, tokenizer, [("", text) for text in heldout], cfg.batch_size)
    nll = np.array([-s.loglikelihood for s in scored])
    rows.append(perplexity_row(nll, np.array([s.n_tokens for s in scored]), variant, stage, **kw))
    return rows
