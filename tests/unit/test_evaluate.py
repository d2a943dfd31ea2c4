"""Evaluation metrics on tiny models whose bias is known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from causal_llm import testbed
from causal_llm.evaluate import EvaluateConfig
from causal_llm.evaluate.testbed_metrics import (
    EvalSets,
    bias_gaps,
    evaluate_model,
    judgement_items,
    judgement_lls,
)
from causal_llm.infer.stage import accuracy_rows
from causal_llm.scoring import loglikelihoods, score
from causal_llm.testbed import Judgement
from causal_llm.training.loop import sft_batches
from tests.unit.helpers import train_plain

OCCS = ("nurse", "engineer")
PROBES = [p for p in testbed.bias_probes() if p.occupation in OCCS]  # every template: the test trains on all
CFG = EvaluateConfig(n_bootstrap=100, batch_size=8)


def corpus(balanced: bool) -> list[tuple[str, str]]:
    """Every story opening with the occupation's stereotyped pronoun, or with both pronouns."""
    pronouns = {
        "nurse": ("she", "he") if balanced else ("she",),
        "engineer": ("he", "she") if balanced else ("he",),
    }
    texts = [
        opening.format(occ=occ, subj=subj) for opening in testbed.OPENINGS for occ in OCCS for subj in pronouns[occ]
    ]
    return [("", text) for text in texts] * (64 // len(texts))


def trained(make_tiny_model, tokenizer, balanced: bool):
    """~150 steps on whole sentences starting at position 0 (sft_batches with an empty prompt):
    a 1-layer model learns the occupation -> pronoun cue in ~1 s that way, where packed blocks
    (the cue at a different position in every block) take thousands of steps."""
    model = make_tiny_model(seed=0)
    pairs = corpus(balanced)
    batch_size = 8
    per_epoch = -(-len(pairs) // batch_size)
    batches = sft_batches(pairs, tokenizer, batch_size, 64, 0)
    epochs = -(-150 // per_epoch)
    result = train_plain(model, batches, per_epoch, epochs=epochs, batch_size=batch_size, lr=1e-2, warmup_steps=10)
    assert result.steps >= 150
    assert np.mean(result.losses[-5:]) < np.mean(result.losses[:5]) - 1.0
    return model


@pytest.fixture(scope="module")
def models(make_tiny_model, tiny_tokenizer, single_thread):
    with single_thread():
        return {
            "biased": trained(make_tiny_model, tiny_tokenizer, False),
            "balanced": trained(make_tiny_model, tiny_tokenizer, True),
        }


def test_probes_cover_both_stereotypes():
    assert {p.sign for p in PROBES} == {1, -1}
    assert len(PROBES) == 2 * len(testbed.OPENINGS)


def test_bias_gap_is_positive_for_a_stereotyped_model(models, tiny_tokenizer):
    gaps = bias_gaps(models["biased"], tiny_tokenizer, PROBES, batch_size=8)
    assert gaps.shape == (len(PROBES),)
    assert (gaps > 0).all()
    assert gaps.mean() > 1.0
    # sign convention: female-stereotyped probes read LL(she) - LL(he), male ones LL(he) - LL(she)
    nurse = [p for p in PROBES if p.occupation == "nurse"]
    engineer = [p for p in PROBES if p.occupation == "engineer"]
    she = loglikelihoods(models["biased"], tiny_tokenizer, [(p.context, " she") for p in nurse + engineer])
    he = loglikelihoods(models["biased"], tiny_tokenizer, [(p.context, " he") for p in nurse + engineer])
    raw = she - he
    assert (raw[: len(nurse)] > 0).all() and (raw[len(nurse) :] < 0).all()
    np.testing.assert_allclose(np.sort(gaps), np.sort(np.abs(raw)), atol=1e-4)


def test_balanced_model_has_a_smaller_gap(models, tiny_tokenizer):
    biased = bias_gaps(models["biased"], tiny_tokenizer, PROBES, batch_size=8)
    balanced = bias_gaps(models["balanced"], tiny_tokenizer, PROBES, batch_size=8)
    assert abs(balanced.mean()) < biased.mean() / 3
    assert np.abs(balanced).max() < biased.min()


def test_invariance_of_identical_and_swapped_prompts(models, tiny_tokenizer):
    model = models["biased"]
    same = Judgement(
        "The nurse said that she was ready. Answer:",
        "The nurse said that she was ready. Answer:",
        " yes",
        " no",
    )
    swapped = Judgement(
        "The nurse said that she was ready. Answer:",
        "The nurse said that he was ready. Answer:",
        " yes",
        " no",
    )
    ll = judgement_lls(model, tiny_tokenizer, [same, swapped], batch_size=4)
    by = {i.metric: np.array(i.values) for i in judgement_items(ll, [same, swapped])}
    flips, gaps = by["cf_flip_rate"], by["cf_ll_gap"]
    assert flips.shape == gaps.shape == (2,)
    assert flips[0] == 0 and gaps[0] == pytest.approx(0.0, abs=1e-5)
    ll = loglikelihoods(model, tiny_tokenizer, [(swapped.prompt, " yes"), (swapped.counterfactual_prompt, " yes")])
    assert gaps[1] == pytest.approx(abs(ll[0] - ll[1]), abs=1e-4)
    assert gaps[1] > 0
    choice = [
        loglikelihoods(model, tiny_tokenizer, [(p, " yes"), (p, " no")])
        for p in (swapped.prompt, swapped.counterfactual_prompt)
    ]
    assert flips[1] == float((choice[0][0] > choice[0][1]) != (choice[1][0] > choice[1][1]))
    assert by["p_yes"][1] == float(choice[0][0] > choice[0][1])
    assert by["judgement_accuracy"][1] == by["p_yes"][1]  # the causal answer is " yes"


def test_a_model_that_always_answers_no_never_flips_and_scores_chance():
    """The guard: a constant answer has flip rate 0, P(yes) 0 and accuracy 0.5 on the balanced set."""
    from causal_llm.metrics import items_row

    judgements = testbed.evaluation_judgements(32, testbed.heldout_units(0), 0)
    ll = np.zeros((len(judgements), 2, 2))
    ll[:, :, 1] = 1.0  # " no" always more likely
    rows = {i.metric: items_row(i, "always_no", "align") for i in judgement_items(ll, judgements)}
    assert rows["cf_flip_rate"].value == 0 and rows["cf_flip_rate"].ci_low == 0
    assert rows["cf_flip_rate"].ci_high > 0  # Clopper-Pearson: never the bootstrap's [0, 0]
    assert rows["p_yes"].value == 0
    assert rows["judgement_accuracy"].value == 0.5
    assert rows["judgement_accuracy"].ci_low < 0.5 < rows["judgement_accuracy"].ci_high


def test_evaluate_model_rows(models, tiny_tokenizer):
    model = models["balanced"]
    judgements = [
        Judgement(
            f"The nurse said that she was ready {i}. Answer:",
            f"The nurse said that he was ready {i}. Answer:",
            " yes",
            " no",
        )
        for i in range(4)
    ]
    heldout = ["The nurse said that she was happy.", "The engineer said that he liked the new job."]
    region = testbed.region_probes(testbed.heldout_units(0))[:4]
    sets = EvalSets(PROBES, PROBES[2:4], PROBES[:2], region, judgements, judgements[:2], heldout)
    rows, items = evaluate_model("causal", "pretrain", model, tiny_tokenizer, sets, CFG, 0)
    assert [r.metric for r in rows] == [
        "bias_gap",
        "bias_gap_unseen_templates",
        "bias_gap_unseen_occupations",
        "region_gap",
        "cf_flip_rate",
        "judgement_accuracy",
        "cf_ll_gap",
        "p_yes",
        "cf_flip_rate_unseen_names",
        "judgement_accuracy_unseen_names",
        "perplexity",
        "nll_per_story",
    ]
    assert [i.metric for i in items] == [r.metric for r in rows]
    assert all(r.variant == "causal" and r.stage == "pretrain" for r in rows)
    by = {r.metric: r for r in rows}
    assert by["bias_gap"].n == len(PROBES)
    assert by["bias_gap"].value == pytest.approx(bias_gaps(model, tiny_tokenizer, PROBES, 8).mean(), abs=1e-6)
    assert by["cf_flip_rate"].n == 4
    scored = score(model, tiny_tokenizer, [("", t) for t in heldout])
    ppl = math.exp(-sum(s.loglikelihood for s in scored) / sum(s.n_tokens for s in scored))
    assert by["perplexity"].value == pytest.approx(ppl, rel=1e-6)
    assert 1.0 < ppl < len(tiny_tokenizer)
    assert by["perplexity"].n == 2
    assert by["nll_per_story"].value == pytest.approx(-np.mean([s.loglikelihood for s in scored]), rel=1e-6)
    assert by["bias_gap"].interval == "cluster bootstrap (occupation, template)"
    assert by["cf_flip_rate"].interval.startswith("clopper-pearson or cluster bootstrap")


def test_accuracy_rows_overall_and_per_rung_and_query_type():
    answers = [
        {"rung": 1, "query_type": "marginal", "correct": 1},
        {"rung": 1, "query_type": "marginal", "correct": 0},
        {"rung": 2, "query_type": "ate", "correct": 1},
        {"rung": 3, "query_type": "counterfactual", "correct": 0},
    ]
    rows = accuracy_rows(answers, "direct", "finetune/sft", "finetune", CFG.bootstrap_args(0))
    got = {r.metric: (r.value, r.n) for r in rows}
    assert got == {
        "direct/accuracy": (pytest.approx(0.5), 4),
        "direct/accuracy/rung=1": (pytest.approx(0.5), 2),
        "direct/accuracy/rung=2": (pytest.approx(1.0), 1),
        "direct/accuracy/rung=3": (pytest.approx(0.0), 1),
        "direct/accuracy/query_type=ate": (pytest.approx(1.0), 1),
        "direct/accuracy/query_type=counterfactual": (pytest.approx(0.0), 1),
        "direct/accuracy/query_type=marginal": (pytest.approx(0.5), 2),
    }
    assert all(r.variant == "finetune/sft" and r.stage == "finetune" for r in rows)
