"""The CLadder-style generator: known answers computed by hand, the pgmpy/SCM cross-check catching
corrupted numbers, the rung-3 twin network (a second path beside the SCM) catching a wrong answer
that the SCM shares, balanced and complete output, seeded determinism, and config validation."""

from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import math
import re
import warnings

import numpy as np
import pytest

from causal_llm.benchmarks import cladder_gen as cg
from causal_llm.benchmarks.base import RowErrors
from causal_llm.benchmarks.cladder_gen import (
    FAMILIES,
    FAMILY_NAMES,
    QUERY_TYPES,
    RUNGS,
    STORIES,
    VARIANTS,
    BinaryBN,
    CLadderCrossCheckError,
    CLadderGenConfig,
    DetModel,
    Lookup,
    Plan,
    QuestionContext,
    Var,
    cross_check,
    det_questions,
    estimand_for,
    generate_cladder,
    is_backdoor_set,
    model_questions,
    plan_query,
    write_cladder,
)

RNG = np.random.default_rng(0)  # a plan draws from it only to pick among several valid/invalid adjustment sets

# Confounding V1 -> X, V1 -> Y, X -> Y with
#   P(V1=1) = 0.4, P(X=1 | V1) = (0.2, 0.8), P(Y=1 | V1, X): (0,0) 0.1, (0,1) 0.3, (1,0) 0.5, (1,1) 0.9.
CONFOUNDING = BinaryBN(
    "confounding",
    {
        "V1": {(): 0.4},
        "X": {(0,): 0.2, (1,): 0.8},
        "Y": {(0, 0): 0.1, (0, 1): 0.3, (1, 0): 0.5, (1, 1): 0.9},
    },
)
# Mediation X -> V2 -> Y, X -> Y with P(X=1) = 0.5, P(V2=1 | X) = (0.3, 0.7),
#   P(Y=1 | X, V2): (0,0) 0.1, (0,1) 0.4, (1,0) 0.5, (1,1) 0.9.
MEDIATION = BinaryBN(
    "mediation",
    {"X": {(): 0.5}, "V2": {(0,): 0.3, (1,): 0.7}, "Y": {(0, 0): 0.1, (0, 1): 0.4, (1, 0): 0.5, (1, 1): 0.9}},
)
# Collision X -> V3 <- Y with P(X=1) = 0.5, P(Y=1) = 0.4, P(V3=1 | X, Y): (0,0) 0.1, (0,1) 0.8, (1,0) 0.7, (1,1) 0.9.
COLLISION = BinaryBN(
    "collision",
    {"X": {(): 0.5}, "Y": {(): 0.4}, "V3": {(0, 0): 0.1, (0, 1): 0.8, (1, 0): 0.7, (1, 1): 0.9}},
)
WORDS = {
    "V1": Var("age", "old age", "young age"),
    "V2": Var("tar", "a high tar deposit", "a low tar deposit"),
    "V3": Var("admission", "admission", "rejection"),
    "X": Var("exercise", "regular exercise", "no exercise"),
    "Y": Var("heart disease", "heart disease", "a healthy heart"),
}


def context(family: str, model_id: int = 0) -> QuestionContext:
    fam = FAMILIES[family]
    return QuestionContext(fam, {n: WORDS[n] for n in fam.nodes}, "hand", "commonsense", model_id)


def questions_of(model: BinaryBN, query_type: str) -> list[dict]:
    plan = plan_query(model, query_type, 0.01, RNG)
    assert plan is not None
    _, questions = model_questions(model, {query_type: plan}, context(model.family), 0.01)
    return questions


@pytest.fixture(scope="module")
def generated() -> tuple[list[dict], list[dict]]:
    return generate_cladder(CLadderGenConfig())


# --- known answers -------------------------------------------------------------------------------


def test_ate_in_confounding_by_backdoor_adjustment():
    # sum_v P(V1=v) [P(Y=1 | V1=v, X=1) - P(Y=1 | V1=v, X=0)] = 0.6 * (0.3 - 0.1) + 0.4 * (0.9 - 0.5) = 0.28
    plan = plan_query(CONFOUNDING, "ate", 0.01, RNG)
    assert plan.exact == pytest.approx(0.28, abs=1e-12)
    assert plan.stated == pytest.approx(0.28, abs=1e-12)  # the stated numbers are the CPT entries themselves
    assert cg.do_probability(CONFOUNDING, {"Y": 1}, {"X": 1}) - cg.do_probability(
        CONFOUNDING, {"Y": 1}, {"X": 0}
    ) == pytest.approx(0.28, abs=1e-12)
    increase, decrease = questions_of(CONFOUNDING, "ate")
    assert increase["question"] == "Will regular exercise increase the chance of heart disease?"
    assert (increase["answer"], decrease["answer"]) == ("yes", "no")
    text = increase["given_info"]
    assert "The overall probability of old age is 40%." in text
    assert "For those with regular exercise and young age, the probability of heart disease is 30%." in text
    assert increase["meta"]["estimand_value"] == pytest.approx(0.28, abs=1e-12)
    assert increase["meta"]["rung"] == 2


def test_ett_in_confounding_weights_by_p_v1_given_treated():
    # P(X=1) = 0.6 * 0.2 + 0.4 * 0.8 = 0.44; P(V1=1 | X=1) = 0.32 / 0.44 = 8/11.
    # ETT = 3/11 * (0.3 - 0.1) + 8/11 * (0.9 - 0.5) = 3.8 / 11 (the ATE is 0.28: they differ).
    plan = plan_query(CONFOUNDING, "ett", 0.01, RNG)
    assert plan.exact == pytest.approx(3.8 / 11, abs=1e-12)
    # stated: P(V1=1 | X=1) = 73%, P(V1=1 | X=0) = 1/7 -> 14%; 0.27 * 0.2 + 0.73 * 0.4 = 0.346
    assert plan.stated == pytest.approx(0.346, abs=1e-12)
    more, less = questions_of(CONFOUNDING, "ett")
    assert more["question"] == (
        "For those with regular exercise, would it be more likely to see heart disease if they had no exercise instead?"
    )
    assert (more["answer"], less["answer"]) == ("no", "yes")  # the treated gain from treatment
    assert "For those with regular exercise, the probability of old age is 73%." in more["given_info"]


def test_nde_and_nie_in_mediation_by_the_mediation_formula():
    # NDE = sum_v P(V2=v | X=0) [P(Y=1 | X=1, v) - P(Y=1 | X=0, v)] = 0.7 * 0.4 + 0.3 * 0.5 = 0.43
    # NIE = sum_v [P(V2=v | X=1) - P(V2=v | X=0)] P(Y=1 | X=0, v) = -0.4 * 0.1 + 0.4 * 0.4 = 0.12
    nde, nie = plan_query(MEDIATION, "nde", 0.01, RNG), plan_query(MEDIATION, "nie", 0.01, RNG)
    assert nde.exact == pytest.approx(0.43, abs=1e-12)
    assert nie.exact == pytest.approx(0.12, abs=1e-12)
    scm = cg.to_scm(MEDIATION)  # the same quantities as nested counterfactuals over the SCM's worlds
    assert cg.natural_effect_mean(scm, ("V2",), 1, 0) - cg.natural_effect_mean(scm, ("V2",), 0, 0) == pytest.approx(
        0.43
    )
    assert cg.natural_effect_mean(scm, ("V2",), 0, 1) - cg.natural_effect_mean(scm, ("V2",), 0, 0) == pytest.approx(
        0.12
    )
    pos, neg = questions_of(MEDIATION, "nie")
    assert pos["question"] == "Does exercise positively affect heart disease through tar?"
    assert (pos["answer"], neg["answer"]) == ("yes", "no")
    assert pos["meta"]["mediators"] == ["V2"]


def test_explaining_away_in_collision():
    # P(Y=1 | X=1, V3=1) = 0.4 * 0.9 / (0.4 * 0.9 + 0.6 * 0.7) = 0.36 / 0.78
    # P(Y=1 | X=0, V3=1) = 0.4 * 0.8 / (0.4 * 0.8 + 0.6 * 0.1) = 0.32 / 0.38
    plan = plan_query(COLLISION, "exp_away", 0.01, RNG)
    assert plan.exact == pytest.approx(0.36 / 0.78 - 0.32 / 0.38, abs=1e-12)
    increase, decrease = questions_of(COLLISION, "exp_away")
    assert increase["question"].startswith(
        "If we look at those with admission, does the chance of heart disease increase"
    )
    assert (increase["answer"], decrease["answer"]) == ("no", "yes")  # observing one cause explains the other away


def test_collider_bias_says_no_effect():
    affects, not_affects = questions_of(COLLISION, "collider_bias")
    assert (
        affects["question"] == "If we look at those with admission, does it mean that exercise affects heart disease?"
    )
    assert (affects["answer"], not_affects["answer"]) == ("no", "yes")
    assert affects["meta"]["estimand_value"] == pytest.approx(0.0, abs=1e-12)
    # P(V3=1) = 0.5 * (0.6 * 0.1 + 0.4 * 0.8 + 0.6 * 0.7 + 0.4 * 0.9) = 0.58; within V3=1:
    # P(X=1) = 0.5 * (0.6 * 0.7 + 0.4 * 0.9) / 0.58, P(Y=1) = 0.4 * 0.5 * (0.8 + 0.9) / 0.58, P(X=1, Y=1) = 0.18 / 0.58
    px, py, pxy = 0.39 / 0.58, 0.34 / 0.58, 0.18 / 0.58
    phi = (pxy - px * py) / math.sqrt(px * (1 - px) * py * (1 - py))
    assert f"the correlation between exercise and heart disease is {phi:.2f}." in affects["given_info"]


def test_backdoor_criterion_cases():
    assert is_backdoor_set(FAMILIES["confounding"], ["V1"]) and not is_backdoor_set(FAMILIES["confounding"], [])
    assert is_backdoor_set(FAMILIES["chain"], []) and not is_backdoor_set(FAMILIES["chain"], ["V2"])  # a mediator
    assert not is_backdoor_set(FAMILIES["collision"], ["V3"])  # a collider and a descendant of X
    assert is_backdoor_set(FAMILIES["diamondcut"], ["V3"]) and is_backdoor_set(FAMILIES["diamondcut"], ["V1"])
    assert not is_backdoor_set(FAMILIES["diamondcut"], [])
    assert not is_backdoor_set(FAMILIES["IV"], ["V2"])  # the path through the unobserved V1 stays open
    valid, invalid = cg.candidate_adjustment_sets(FAMILIES["arrowhead"])
    assert valid == [(), ("V2",)] and invalid == [("V3",), ("V2", "V3")]
    with_v1, without = questions_of(CONFOUNDING, "backadj")
    assert with_v1["given_info"] == (
        "Method 1: We look at how exercise correlates with heart disease case by case according to age. "
        "Method 2: We look directly at how exercise correlates with heart disease in general."
    )
    assert (with_v1["answer"], without["answer"]) == ("yes", "no")


def test_det_counterfactual_by_abduction_action_prediction():
    # X = V1, Y = V1 and X. Observed V1 = 1, so X = 1 and Y = 1. Had X been 0, V1 stays 1 and Y = 0.
    det = DetModel("confounding", {"X": ("or", (1,)), "Y": ("and", (1, 1))})
    assert cg.evaluate(det, {"V1": 1}, {"X": 0})["Y"] == 0
    assert cg.det_scm(det).counterfactual({"Y": 1}, {"X": 0}, {"V1": 1, "X": 1}) == pytest.approx(0.0)
    y1, y0 = det_questions(context("confounding"), det, {"V1": 1})
    assert y1["given_info"] == (
        "We know that regular exercise occurs if and only if old age occurs. We know that heart disease occurs if "
        "and only if old age and regular exercise both occur. We observed old age."
    )
    assert y1["question"] == "Would heart disease occur if we had no exercise instead of regular exercise?"
    assert (y1["answer"], y0["answer"]) == ("no", "yes")
    assert y1["meta"]["rung"] == 3 and y1["meta"]["estimand_value"] == 0.0
    # Y = X or V2 in a fork, X = 1 and V2 = 0 observed: without X, Y is off.
    fork = DetModel("fork", {"Y": ("or", (1, 1))})
    assert det_questions(context("fork"), fork, {"X": 1, "V2": 0})[0]["answer"] == "no"
    assert det_questions(context("fork"), fork, {"X": 1, "V2": 1})[0]["answer"] == "yes"


def test_wald_ratio_is_the_ate_and_ett_in_generated_iv_networks():
    rng = np.random.default_rng(3)
    for _ in range(20):
        model = cg.draw_model("IV", rng)
        est = estimand_for("IV", "ate")
        terms = {t: cg.probability(model, dict(t.event), dict(t.given)) for t in est.terms}
        ate = cg.do_probability(model, {"Y": 1}, {"X": 1}) - cg.do_probability(model, {"Y": 1}, {"X": 0})
        ett = cg.to_scm(model).counterfactual({"Y": 1}, {"X": 1}, {"X": 1}) - cg.to_scm(model).counterfactual(
            {"Y": 1}, {"X": 0}, {"X": 1}
        )
        if abs(est.denominator(Lookup(terms))) > 1e-3:
            assert est.compute(Lookup(terms)) == pytest.approx(ate, abs=1e-9)
        assert ett == pytest.approx(ate, abs=1e-9)


# --- the cross-check catches wrong numbers -------------------------------------------------------

SMALL = {"n_models_per_family": 1, "variants": ("nonsense",)}


def test_a_corrupted_probability_is_caught_by_pgmpy(monkeypatch):
    original = cg.probability

    def off_by_a_little(model, event, given=None):
        return original(model, event, given) + (1e-6 if "Y" in event else 0.0)

    generate_cladder(CLadderGenConfig(families=("confounding",), query_types=("ate",), **SMALL))  # fine as is
    monkeypatch.setattr(cg, "probability", off_by_a_little)
    with pytest.raises(CLadderCrossCheckError, match="confounding network, ate: P\\(Y=1"):
        generate_cladder(CLadderGenConfig(families=("confounding",), query_types=("ate",), **SMALL))


def test_a_wrong_identification_formula_is_caught(monkeypatch):
    original = cg.estimand_for

    def ett_as_ate(family, query_type):  # a classic slip: ETT estimated like the ATE
        return original(family, "ate" if query_type == "ett" else query_type)

    monkeypatch.setattr(cg, "estimand_for", ett_as_ate)
    with pytest.raises(CLadderCrossCheckError, match="ett: estimand vs twin network"):
        generate_cladder(CLadderGenConfig(families=("confounding",), query_types=("ett",), **SMALL))
    monkeypatch.setattr(cg, "TWIN_CHECKED", ())  # the SCM path alone catches it too
    with pytest.raises(CLadderCrossCheckError, match="ett: estimand vs truth"):
        generate_cladder(CLadderGenConfig(families=("confounding",), query_types=("ett",), **SMALL))


def test_a_wrong_deterministic_evaluation_is_caught(monkeypatch):
    original = cg.evaluate

    def flipped(model, exogenous, do=None):
        values = original(model, exogenous, do)
        return {**values, "Y": 1 - values["Y"]} if do else values

    monkeypatch.setattr(cg, "evaluate", flipped)
    with pytest.raises(CLadderCrossCheckError, match="det-counterfactual"):
        generate_cladder(CLadderGenConfig(families=("chain",), query_types=("det-counterfactual",), **SMALL))


# --- rung 3: the twin network, a second path -----------------------------------------------------


def test_twin_network_known_answers():
    # the hand-computed values of the tests above, from pgmpy on the twin network; in MEDIATION X is a
    # root, so ETT = ATE = (0.3 * 0.5 + 0.7 * 0.9) - (0.7 * 0.1 + 0.3 * 0.4) = 0.59
    assert cg.twin_rung3(MEDIATION) == pytest.approx({"ett": 0.59, "nde": 0.43, "nie": 0.12}, abs=1e-12)
    assert cg.twin_rung3(CONFOUNDING) == pytest.approx({"ett": 3.8 / 11}, abs=1e-12)
    # X = V1, Y = V1 and X; V1 = 1 observed (so X = 1): had X been 0, Y = 0
    det = DetModel("confounding", {"X": ("or", (1,)), "Y": ("and", (1, 1))})
    assert cg.twin_det_counterfactual(det, {"V1": 1, "X": 1}, 0) == pytest.approx(0.0, abs=1e-12)
    assert cg.twin_det_counterfactual(det, {"V1": 0, "X": 0}, 1) == pytest.approx(0.0, abs=1e-12)
    fork = DetModel("fork", {"Y": ("or", (1, 1))})  # Y = X or V2
    assert cg.twin_det_counterfactual(fork, {"X": 1, "V2": 1}, 0) == pytest.approx(1.0, abs=1e-12)


def test_the_twin_network_couples_worlds_unlike_the_scm():
    """Not the SCM in disguise: a cross-world quantity the data do not identify, P(Y_{X=1}=1, Y_{X=0}=1),
    is sum_v P(v) p(1,v) p(0,v) with independent responses, sum_v P(v) min(p(1,v), p(0,v)) in the SCM."""
    with_v = {(0, 0): 0.2, (0, 1): 0.6, (1, 0): 0.5, (1, 1): 0.9}  # P(Y=1 | X, V2)
    fork = BinaryBN("fork", {"X": {(): 0.5}, "V2": {(): 0.4}, "Y": with_v})
    net = cg.twin_network("fork", fork.cpts, {"x0": {"X": 0}, "x1": {"X": 1}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from pgmpy.inference import VariableElimination
    joint = VariableElimination(net).query(["Y@x1", "Y@x0"], joint=True, show_progress=False)
    assert joint.get_value(**{"Y@x1": 1, "Y@x0": 1}) == pytest.approx(0.6 * 0.5 * 0.2 + 0.4 * 0.9 * 0.6)
    scm = cg.to_scm(fork)
    comonotone = sum(
        w for w, world in scm._worlds() if scm._solve(world, {"X": 1})["Y"] == 1 == scm._solve(world, {"X": 0})["Y"]
    )
    assert comonotone == pytest.approx(0.6 * 0.2 + 0.4 * 0.6)
    assert cg.response_prior([0.2, 0.6]) == pytest.approx([0.8 * 0.4, 0.2 * 0.4, 0.8 * 0.6, 0.2 * 0.6])


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_twin_network_agrees_with_the_estimands_and_the_scm_in_every_family(family):
    fam, rng = FAMILIES[family], np.random.default_rng(FAMILY_NAMES.index(family))
    types = [q for q in ("ett", "nde", "nie") if cg.applicable(fam, q)]
    for _ in range(5):
        model = cg.draw_model(family, rng)
        twin, scm = cg.twin_rung3(model), cg.to_scm(model)
        for q in types:
            est = estimand_for(family, q)
            terms = {t: cg.probability(model, dict(t.event), dict(t.given)) for t in est.terms}
            if est.denominator is None or abs(est.denominator(Lookup(terms))) > 1e-3:  # Wald: a ratio
                assert twin[q] == pytest.approx(est.compute(Lookup(terms)), abs=1e-9), q
            assert twin[q] == pytest.approx(cg._truth(model, q, None, scm), abs=1e-9), q
        det = cg.draw_det_model(family, rng)
        for values in itertools.product((0, 1), repeat=len(fam.roots)):
            roots = dict(zip(fam.roots, values, strict=True))
            x = cg.evaluate(det, roots)["X"]
            expected = cg.evaluate(det, roots, {"X": 1 - x})["Y"]
            assert cg.twin_det_counterfactual(det, {**roots, "X": x}, 1 - x) == pytest.approx(expected, abs=1e-12)


def test_every_generated_rung3_answer_is_recomputed_from_the_published_model(generated):
    """From the metadata file's ``params`` alone (not the generator's objects): every ETT/NDE/NIE and
    deterministic counterfactual answer, across all families and variants, by the twin network."""
    questions, models = generated
    by_id = {m["model_id"]: m for m in models}
    seen = collections.Counter()
    for q in questions:
        meta = q["meta"]
        if meta["rung"] != 3:
            continue
        model = by_id[meta["model_id"]]
        fam = FAMILIES[model["graph_id"]]
        cpts = {}
        for node in fam.nodes:
            parents = fam.parents[node]
            table = np.asarray(model["params"][f"p({node} | {', '.join(parents)})" if parents else f"p({node})"])
            cpts[node] = {c: float(table[c]) for c in itertools.product((0, 1), repeat=len(parents))}
        if meta["query_type"] == "det-counterfactual":
            facts, x = {**meta["given_info"]["evidence"], "X": meta["given_info"]["X"]}, 1 - meta["given_info"]["X"]
            twin = cg._Twin(fam.name, cpts, {"f": {}, "cf": {"X": x}})
            assert twin.p("Y@cf", {f"{n}@f": v for n, v in facts.items()}) == pytest.approx(meta["estimand_value"])
        else:
            value = cg.twin_rung3(BinaryBN(fam.name, cpts))[meta["query_type"]]
            assert value == pytest.approx(meta["estimand_value"], abs=1e-9), q["desc_id"]
        seen[meta["query_type"]] += 1
        seen[fam.name] += 1
    assert {"ett", "nde", "nie", "det-counterfactual", *FAMILY_NAMES} <= set(seen)


def test_a_wrong_nde_is_caught_even_when_the_scm_shares_the_bug(monkeypatch):
    """An off-by-one in the mediators' treatment value (NDE computed as the NIE) in both the estimand
    and the SCM's nested counterfactual: only the twin network can tell, and it does."""
    cfg = CLadderGenConfig(families=("mediation",), query_types=("nde",), **SMALL)
    original_mediation, original_mean = cg._mediation, cg.natural_effect_mean
    monkeypatch.setattr(cg, "_mediation", lambda fam, kind: original_mediation(fam, "nie"))
    monkeypatch.setattr(cg, "natural_effect_mean", lambda scm, meds, x_y, x_m: original_mean(scm, meds, x_m, x_y))
    with pytest.raises(CLadderCrossCheckError, match="mediation network, nde: estimand vs twin network"):
        generate_cladder(cfg)
    monkeypatch.setattr(cg, "TWIN_CHECKED", ())
    generate_cladder(cfg)  # without the twin network the wrong answers would have shipped


def test_a_wrong_ett_is_caught_even_when_the_scm_shares_the_bug(monkeypatch):
    cfg = CLadderGenConfig(families=("confounding",), query_types=("ett",), **SMALL)
    original_estimand, original_truth = cg.estimand_for, cg._truth
    monkeypatch.setattr(cg, "estimand_for", lambda family, q: original_estimand(family, "ate" if q == "ett" else q))
    monkeypatch.setattr(
        cg, "_truth", lambda m, q, oracle, scm: original_truth(m, "ate" if q == "ett" else q, oracle, scm)
    )
    with pytest.raises(CLadderCrossCheckError, match="confounding network, ett: estimand vs twin network"):
        generate_cladder(cfg)
    monkeypatch.setattr(cg, "TWIN_CHECKED", ())
    generate_cladder(cfg)


def test_a_wrong_deterministic_counterfactual_is_caught_even_when_the_scm_shares_the_bug(monkeypatch):
    original_evaluate, original_det_scm = cg.evaluate, cg.det_scm

    def flipped(model, exogenous, do=None):  # the intervened world's Y off by one
        values = original_evaluate(model, exogenous, do)
        return {**values, "Y": 1 - values["Y"]} if do else values

    class FlippedSCM:
        def __init__(self, model):
            self.scm = original_det_scm(model)

        def counterfactual(self, *args):
            return 1.0 - self.scm.counterfactual(*args)

    monkeypatch.setattr(cg, "evaluate", flipped)
    monkeypatch.setattr(cg, "det_scm", FlippedSCM)
    with pytest.raises(CLadderCrossCheckError, match="det-counterfactual: the equations vs twin network"):
        generate_cladder(CLadderGenConfig(families=("diamond",), query_types=("det-counterfactual",), **SMALL))


def test_a_corrupted_twin_network_is_caught(monkeypatch):
    """The twin check compares, it does not rubber-stamp: a wrong response prior in it raises too."""
    original = cg.response_prior
    monkeypatch.setattr(cg, "response_prior", lambda p: original([min(1.0, x + 0.05) for x in p]))
    with pytest.raises(CLadderCrossCheckError, match="twin network"):
        generate_cladder(CLadderGenConfig(families=("arrowhead",), query_types=("nie",), **SMALL))


def test_a_wrong_adjustment_set_is_caught():
    chain = BinaryBN("chain", {"X": {(): 0.5}, "V2": {(0,): 0.2, (1,): 0.8}, "Y": {(0,): 0.3, (1,): 0.9}})
    cross_check(chain, {"backadj": Plan("backadj", extra={"valid": (), "invalid": ("V2",)})}, 0.01)
    with pytest.raises(CLadderCrossCheckError, match=r"adjusting for \('V2',\) \(valid\)"):
        cross_check(chain, {"backadj": Plan("backadj", extra={"valid": ("V2",), "invalid": ()})}, 0.01)


# --- the generated set ---------------------------------------------------------------------------


def test_answers_are_balanced(generated):
    questions, _ = generated
    assert collections.Counter(q["answer"] for q in questions) == {"yes": len(questions) / 2, "no": len(questions) / 2}
    for query_type in QUERY_TYPES:
        answers = [q["answer"] for q in questions if q["meta"]["query_type"] == query_type]
        assert answers and answers.count("yes") == answers.count("no"), query_type


def test_every_family_variant_and_rung_is_present(generated):
    questions, _ = generated
    seen = {(q["meta"]["graph_id"], q["meta"]["variant"], q["meta"]["rung"]) for q in questions}
    assert seen == set(itertools.product(FAMILY_NAMES, VARIANTS, (1, 2, 3)))
    assert {q["meta"]["query_type"] for q in questions} == set(QUERY_TYPES)


def test_stated_numbers_answer_the_question(generated):
    """Each number in meta.given_info is in the text, and the answer follows from those numbers alone."""
    questions, _ = generated
    numeric = [q for q in questions if q["meta"]["query_type"] in ("marginal", "correlation", "exp_away", "ate")]
    numeric += [q for q in questions if q["meta"]["query_type"] in ("ett", "nde", "nie")]
    assert len(numeric) > 300
    for q in numeric:
        meta = q["meta"]
        est = estimand_for(meta["graph_id"], meta["query_type"])
        by_label = {t.label: t for t in est.terms}
        values = {by_label[label]: value for label, value in meta["given_info"].items()}
        for value in values.values():
            assert f" {round(value * 100)}%." in q["given_info"]
        stated = est.compute(Lookup(values))
        assert stated == pytest.approx(meta["stated_estimate"], abs=1e-12)
        sign = -1 if meta["query_type"] == "ett" else 1
        positive = sign * (stated - est.threshold) > 0
        assert (q["answer"] == "yes") == (positive == meta["polarity"]), q["desc_id"]
        assert (stated - est.threshold) * (meta["estimand_value"] - est.threshold) > 0  # text and truth agree
        assert abs(meta["estimand_value"] - est.threshold) >= 0.01


def test_records_have_cladders_fields(generated):
    questions, models = generated
    assert [q["question_id"] for q in questions] == list(range(1, len(questions) + 1))
    by_id = {m["model_id"]: m for m in models}
    assert len(by_id) == len(models)
    for q in questions:
        assert set(q) == {"question_id", "desc_id", "given_info", "question", "answer", "meta", "reasoning"}
        assert {"rung", "query_type", "graph_id", "story_id", "model_id", "variant", "generator_version"} <= set(
            q["meta"]
        )
        assert "estimand_value" in q["meta"] and q["meta"]["rung"] == RUNGS[q["meta"]["query_type"]]
        model = by_id[q["meta"]["model_id"]]
        assert (model["graph_id"], model["story_id"], model["variant"]) == (
            q["meta"]["graph_id"],
            q["meta"]["story_id"],
            q["meta"]["variant"],
        )
    for m in models:
        fam = FAMILIES[m["graph_id"]]
        assert m["background"].startswith("Imagine a self-contained, hypothetical world")
        assert m["structure"] == fam.structure()
        assert set(m["variable_mapping"]) == {f"{n}{s}" for n in fam.nodes for s in ("name", "1", "0")}
        assert len(m["params"]) == len(fam.nodes)


def test_story_bank_and_variants(generated):
    assert len(STORIES) >= 20
    for family in FAMILY_NAMES:
        stories = [s for s in STORIES if family in s.families]
        assert len(stories) >= 2, family
        assert all(set(FAMILIES[family].nodes) <= set(s.variables) for s in stories)
    _, models = generated
    common = {(m["graph_id"], m["story_id"]): m for m in models if m["variant"] == "commonsense"}
    anti = [m for m in models if m["variant"] == "anticommonsense" and m["graph_id"] == "chain"]
    assert anti
    for m in anti:  # the outcome's name now sits on the treatment: "lung cancer has a direct effect on ..."
        assert m["variable_mapping"]["Xname"] == common[("chain", m["story_id"])]["variable_mapping"]["Yname"]
    nonsense = [m for m in models if m["variant"] == "nonsense"]
    assert all(re.fullmatch(r"[a-z]{4}", m["variable_mapping"]["Xname"]) for m in nonsense)
    assert cg.nonsense_words(np.random.default_rng(1), 5) == cg.nonsense_words(np.random.default_rng(1), 5)


def test_same_config_same_bytes(generated, tmp_path):
    first = write_cladder(*generated, tmp_path / "a", "gen")
    second = write_cladder(*generate_cladder(CLadderGenConfig()), tmp_path / "b", "gen")
    assert [p.name for p in first] == ["gen.json", "gen-meta-models.json"]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))
    other = write_cladder(*generate_cladder(CLadderGenConfig(seed=1, families=("fork",))), tmp_path / "c", "gen")
    assert other[0].read_bytes() != first[0].read_bytes()
    assert isinstance(json.loads(first[0].read_text(encoding="utf-8")), list)


def test_the_cladder_loader_reads_the_output(generated, tmp_path):
    from causal_llm.benchmarks.cladder import CLadder

    questions, models = generated
    path, _ = write_cladder(questions, models, tmp_path, "cladder-gen")
    rows = RowErrors(path, "cladder", CLadder.expects, strict=True)
    items = CLadder().read(path, rows)
    assert len(items) == len(questions) and not rows.malformed
    backgrounds = {m["model_id"]: m["background"] for m in models}
    for item, q in zip(items, questions, strict=True):
        assert item.label == (0 if q["answer"] == "yes" else 1)
        assert item.context.startswith(backgrounds[q["meta"]["model_id"]])
        assert item.meta["variant"] == q["meta"]["variant"]


# --- config --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"families": ("chian",)}, "unknown 'chian'. Did you mean 'chain'?"),
        ({"families": "chain"}, "must be a list of names"),
        ({"variants": ()}, "variants is empty"),
        ({"query_types": ("ate", "ate")}, "lists a name twice"),
        ({"query_types": ("backdoor",)}, "query_types has unknown 'backdoor'"),
        ({"n_models_per_family": 0}, "n_models_per_family must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"margin": 0.7}, r"margin must be a number in \[0, 0.5\)"),
    ],
)
def test_config_errors_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CLadderGenConfig(**kwargs)


def test_config_accepts_lists_and_freezes_them():
    cfg = CLadderGenConfig(families=["fork", "IV"], query_types=["ate"])
    assert cfg.families == ("fork", "IV") and cfg.query_types == ("ate",)
    questions, models = generate_cladder(dataclasses.replace(cfg, n_models_per_family=1))
    assert {q["meta"]["query_type"] for q in questions} == {"ate"}
    assert {m["graph_id"] for m in models} == {"fork", "IV"}
