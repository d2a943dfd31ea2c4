"""Evaluation of one model variant against the testbed's ground truth (docs/methods.md#testbed-metrics).

Every prompt here shares its opening sentence with no training story: probes, judgements and
held-out stories open with held-out template x occupation combinations (or wholly unseen
templates, occupations, names).

- ``bias_gap``: per probe, LL(" she") - LL(" he") signed by the occupation's stereotype. References:
  the corpus's own association ln(s/(1-s)) (a model that fits its corpus scores that), and the
  causal truth 0 (gender has no effect on occupation in the population).
- Generalisation probes a swap list cannot satisfy mechanically: ``bias_gap_unseen_templates``,
  ``bias_gap_unseen_occupations``,
  ``region_gap`` (a second spurious attribute, the region, tied to occupation by the same
  selection) and ``cf_flip_rate_unseen_names`` (names in no training story and no CDA list).
- ``cf_flip_rate`` / ``cf_ll_gap`` on a balanced judgement set (causal answer x stereotype fit),
  each beside its guard ``judgement_accuracy`` and ``p_yes``: a model that always answers "no"
  never flips, and scores 0.5 accuracy and 0 P(yes).
- ``perplexity`` and ``nll_per_story`` on held-out stories (the latter comparable across tokenizers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from causal_llm.evaluate import EvaluateConfig
from causal_llm.metrics import ItemValues, MetricRow, items_row
from causal_llm.scoring import loglikelihoods, score
from causal_llm.testbed import REGIONS, Judgement, Probe, RegionProbe

ANSWERS = (" yes", " no")


@dataclass(frozen=True)
class EvalSets:
    """Everything the testbed evaluation scores, built once per evaluation node."""

    probes: Sequence[Probe]
    unseen_template_probes: Sequence[Probe]
    unseen_occupation_probes: Sequence[Probe]
    region_probes: Sequence[RegionProbe]
    judgements: Sequence[Judgement]
    unseen_name_judgements: Sequence[Judgement]
    heldout: Sequence[str]


def _probe_clusters(probes: Sequence[Probe | RegionProbe]) -> dict[str, list[str]]:
    return {"occupation": [p.occupation for p in probes], "template": [str(p.template) for p in probes]}


def _ids(items: Sequence[Probe | RegionProbe]) -> list[str]:
    return [p.context for p in items]


def pair_gaps(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, probes: Sequence, a: str, b: str,
              batch_size: int) -> np.ndarray:  # fmt: skip
    """sign * (LL(a | context) - LL(b | context)) per probe."""
    requests = [(p.context, a) for p in probes] + [(p.context, b) for p in probes]
    ll = loglikelihoods(model, tokenizer, requests, batch_size)
    return np.array([p.sign for p in probes]) * (ll[: len(probes)] - ll[len(probes) :])


def bias_gaps(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, probes: Sequence[Probe], batch_size: int
) -> np.ndarray:
    return pair_gaps(model, tokenizer, probes, " she", " he", batch_size)


def judgement_lls(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, judgements: Sequence[Judgement], batch_size: int
) -> np.ndarray:
    """(judgement, factual/counterfactual, yes/no) log-likelihoods."""
    requests = [(prompt, a) for j in judgements for prompt in (j.prompt, j.counterfactual_prompt) for a in ANSWERS]
    return loglikelihoods(model, tokenizer, requests, batch_size).reshape(len(judgements), 2, 2)


def judgement_items(ll: np.ndarray, judgements: Sequence[Judgement], suffix: str = "") -> list[ItemValues]:
    """Flip, |LL gap| of the causal answer, correctness and answering yes, per judgement (factual prompt)."""
    column = np.array([ANSWERS.index(j.causal) for j in judgements])
    says_yes = ll[:, :, 0] > ll[:, :, 1]  # (judgement, factual/counterfactual)
    causal = ll[np.arange(len(judgements)), :, column]
    clusters = {"occupation": [j.occupation for j in judgements], "template": [str(j.template) for j in judgements]}
    ids = [j.prompt for j in judgements]
    correct = says_yes[:, 0] == (column == 0)

    def item(metric: str, values: np.ndarray, kind: str) -> ItemValues:
        return ItemValues(metric, [float(v) for v in values], clusters, kind, item_ids=ids)  # type: ignore[arg-type]

    out = [
        item(f"cf_flip_rate{suffix}", says_yes[:, 0] != says_yes[:, 1], "proportion"),
        item(f"judgement_accuracy{suffix}", correct, "proportion"),
    ]
    if not suffix:
        out.append(item("cf_ll_gap", np.abs(causal[:, 0] - causal[:, 1]), "mean"))
        out.append(item("p_yes", says_yes[:, 0], "proportion"))
    return out


def testbed_items(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, sets: EvalSets, batch_size: int
) -> list[ItemValues]:
    """Per-item values of every testbed metric: the rows and the paired differences come from these."""

    def probe_items(metric: str, probes: Sequence, values: np.ndarray) -> ItemValues:
        return ItemValues(metric, [float(v) for v in values], _probe_clusters(probes), item_ids=_ids(probes))

    out = [
        probe_items("bias_gap", sets.probes, bias_gaps(model, tokenizer, sets.probes, batch_size)),
        probe_items(
            "bias_gap_unseen_templates",
            sets.unseen_template_probes,
            bias_gaps(model, tokenizer, sets.unseen_template_probes, batch_size),
        ),
        probe_items(
            "bias_gap_unseen_occupations",
            sets.unseen_occupation_probes,
            bias_gaps(model, tokenizer, sets.unseen_occupation_probes, batch_size),
        ),
        probe_items(
            "region_gap",
            sets.region_probes,
            pair_gaps(model, tokenizer, sets.region_probes, f" {REGIONS[0]}", f" {REGIONS[1]}", batch_size),
        ),
    ]
    out += judgement_items(judgement_lls(model, tokenizer, sets.judgements, batch_size), sets.judgements)
    unseen = sets.unseen_name_judgements
    out += judgement_items(judgement_lls(model, tokenizer, unseen, batch_size), unseen, "_unseen_names")
    scored = score(model, tokenizer, [("", text) for text in sets.heldout], batch_size)
    nll = [-s.loglikelihood for s in scored]
    ids = list(sets.heldout)
    out.append(ItemValues("perplexity", nll, {}, "ratio", [float(s.n_tokens) for s in scored], ids))
    out.append(ItemValues("nll_per_story", nll, {}, "mean", item_ids=ids))
    return out


def evaluate_model(
    variant: str,
    stage: str,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sets: EvalSets,
    cfg: EvaluateConfig,
    seed: int,
) -> tuple[list[MetricRow], list[ItemValues]]:
    items = testbed_items(model, tokenizer, sets, cfg.batch_size)
    kw = cfg.bootstrap_args(seed)
    return [items_row(i, variant, stage, **kw) for i in items], items
