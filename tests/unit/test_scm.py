"""Exact rung 1-3 queries on small SCMs, checked against answers computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from causal_llm.scm import SCM, Mechanism, bernoulli, constant


def chain() -> SCM:
    """X -> Y with P(X=1) = 0.3 and P(Y=1 | X) = (0.2, 0.9)."""
    return SCM({"X": bernoulli((), {(): 0.3}), "Y": bernoulli(("X",), {(0,): 0.2, (1,): 0.9})})


P_Z = 0.4
P_X_GIVEN_Z = {0: 0.2, 1: 0.8}
P_Y_GIVEN_XZ = {(0, 0): 0.1, (0, 1): 0.5, (1, 0): 0.3, (1, 1): 0.9}


def confounded() -> SCM:
    """Z -> X, Z -> Y, X -> Y."""
    return SCM(
        {
            "Z": bernoulli((), {(): P_Z}),
            "X": bernoulli(("Z",), {(z,): p for z, p in P_X_GIVEN_Z.items()}),
            "Y": bernoulli(("X", "Z"), P_Y_GIVEN_XZ),
        }
    )


def p_z(z: int) -> float:
    return P_Z if z == 1 else 1 - P_Z


def p_x_given_z(x: int, z: int) -> float:
    return P_X_GIVEN_Z[z] if x == 1 else 1 - P_X_GIVEN_Z[z]


# --- rung 1 and 2 on a chain -------------------------------------------------------------------


def test_chain_marginal_posterior_and_ate():
    scm = chain()
    assert scm.probability({"Y": 1}) == pytest.approx(0.3 * 0.9 + 0.7 * 0.2)  # 0.41
    assert scm.probability({"Y": 1}) == pytest.approx(0.41)
    assert scm.probability({"X": 1}, {"Y": 1}) == pytest.approx(0.27 / 0.41)
    assert scm.probability({"X": 1}, {"Y": 0}) == pytest.approx(0.03 / 0.59)
    assert scm.probability({"X": 1, "Y": 1}) == pytest.approx(0.27)
    assert scm.probability({"Y": 1}, {"X": 0}) == pytest.approx(0.2)
    assert scm.ate("X", "Y") == pytest.approx(0.7)
    assert scm.ate("X", "Y", outcome_value=0) == pytest.approx(-0.7)


def test_chain_interventions():
    scm = chain()
    assert scm.probability({"Y": 1}, do={"X": 1}) == pytest.approx(0.9)
    assert scm.probability({"Y": 1}, do={"X": 0}) == pytest.approx(0.2)
    # intervening on the effect does not move the cause
    assert scm.probability({"X": 1}, do={"Y": 1}) == pytest.approx(0.3)
    assert scm.ate("Y", "X") == pytest.approx(0.0)


# --- confounding: association differs from causation --------------------------------------------


def test_confounded_ate_is_the_backdoor_adjustment_not_the_association():
    scm = confounded()

    def observational(x: int) -> float:  # P(Y=1 | X=x) by Bayes over Z
        joint = sum(P_Y_GIVEN_XZ[(x, z)] * p_x_given_z(x, z) * p_z(z) for z in (0, 1))
        return joint / sum(p_x_given_z(x, z) * p_z(z) for z in (0, 1))

    def backdoor(x: int) -> float:  # sum_z P(Y=1 | X=x, z) P(z)
        return sum(P_Y_GIVEN_XZ[(x, z)] * p_z(z) for z in (0, 1))

    assoc = observational(1) - observational(0)
    ate = backdoor(1) - backdoor(0)
    assert ate == pytest.approx(0.28)  # 0.6 * 0.2 + 0.4 * 0.4
    assert assoc == pytest.approx(0.324 / 0.44 - 0.088 / 0.56)
    assert abs(assoc - ate) > 0.2  # the test graph really is confounded

    assert scm.probability({"Y": 1}, {"X": 1}) == pytest.approx(observational(1))
    assert scm.probability({"Y": 1}, {"X": 0}) == pytest.approx(observational(0))
    assert scm.probability({"Y": 1}, do={"X": 1}) == pytest.approx(backdoor(1))
    assert scm.probability({"Y": 1}, do={"X": 0}) == pytest.approx(backdoor(0))
    assert scm.ate("X", "Y") == pytest.approx(ate)
    assert scm.ate("X", "Y") != pytest.approx(assoc)


def test_do_returns_a_new_model_and_leaves_the_original_unchanged():
    scm = confounded()
    before = scm.probability({"X": 1})
    mechanisms = dict(scm.mechanisms)
    done = scm.do({"X": 1})
    assert done is not scm
    assert isinstance(done, SCM)
    # the intervened model: X is constant and no longer listens to Z
    assert done.probability({"X": 1}) == pytest.approx(1.0)
    assert ("Z", "X") not in done.graph.edges
    assert ("X", "Y") in done.graph.edges
    assert done.probability({"Y": 1}) == pytest.approx(0.6 * 0.3 + 0.4 * 0.9)
    # the original is untouched
    assert scm.mechanisms == mechanisms
    assert ("Z", "X") in scm.graph.edges
    assert scm.probability({"X": 1}) == pytest.approx(before)
    assert before == pytest.approx(0.6 * 0.2 + 0.4 * 0.8)


# --- rung 3: counterfactuals -------------------------------------------------------------------


def test_deterministic_copy_counterfactual():
    scm = SCM({"X": bernoulli((), {(): 0.5}), "Y": bernoulli(("X",), {(0,): 0.0, (1,): 1.0})})
    assert scm.counterfactual({"Y": 1}, {"X": 1}, {"X": 0, "Y": 0}) == pytest.approx(1.0)
    assert scm.counterfactual({"Y": 0}, {"X": 0}, {"X": 1, "Y": 1}) == pytest.approx(1.0)
    assert scm.counterfactual({"Y": 1}, {"X": 0}, {"X": 1, "Y": 1}) == pytest.approx(0.0)


@pytest.mark.parametrize(("p0", "p1"), [(0.3, 0.8), (0.1, 0.5), (0.0, 0.6), (0.45, 0.55)])
def test_monotone_threshold_counterfactuals(p0, p1):
    scm = SCM({"X": bernoulli((), {(): 0.4}), "Y": bernoulli(("X",), {(0,): p0, (1,): p1})})
    # probability of necessity: P(Y_{X=0} = 0 | X=1, Y=1) = (p1 - p0) / p1
    assert scm.counterfactual({"Y": 0}, {"X": 0}, {"X": 1, "Y": 1}) == pytest.approx((p1 - p0) / p1)
    # probability of sufficiency: P(Y_{X=1} = 1 | X=0, Y=0) = (p1 - p0) / (1 - p0)
    assert scm.counterfactual({"Y": 1}, {"X": 1}, {"X": 0, "Y": 0}) == pytest.approx((p1 - p0) / (1 - p0))
    # monotone: nobody with Y=0 under X=1 would have had Y=1 under X=0
    assert scm.counterfactual({"Y": 1}, {"X": 0}, {"X": 1, "Y": 0}) == pytest.approx(0.0)


def test_counterfactual_without_intervention_is_conditioning():
    scm = confounded()
    assert scm.counterfactual({"Y": 1}, {}, {"X": 1}) == pytest.approx(scm.probability({"Y": 1}, {"X": 1}))


def test_counterfactual_keeps_the_confounders_abduced_value():
    # Y_{X=x} given Z observed: only Y's own noise is abduced; Z is held at its factual value.
    scm = confounded()
    got = scm.counterfactual({"Y": 1}, {"X": 1}, {"Z": 1, "X": 0})
    assert got == pytest.approx(P_Y_GIVEN_XZ[(1, 1)])


def test_zero_probability_evidence_raises():
    scm = SCM({"X": bernoulli((), {(): 0.5}), "Y": bernoulli(("X",), {(0,): 0.0, (1,): 1.0})})
    with pytest.raises(ValueError, match="probability zero"):
        scm.counterfactual({"Y": 1}, {"X": 1}, {"X": 0, "Y": 1})


# --- sampling ----------------------------------------------------------------------------------


def test_sample_frequencies_match_exact_probabilities():
    scm = confounded()
    data = scm.sample(20000, np.random.default_rng(0))
    assert list(data.columns) == ["Z", "X", "Y"]
    assert len(data) == 20000
    assert set(np.unique(data.to_numpy())) <= {0, 1}
    assert data["Z"].mean() == pytest.approx(scm.probability({"Z": 1}), abs=0.02)
    assert data["X"].mean() == pytest.approx(scm.probability({"X": 1}), abs=0.02)
    assert data["Y"].mean() == pytest.approx(scm.probability({"Y": 1}), abs=0.02)
    joint = ((data["X"] == 1) & (data["Y"] == 1)).mean()
    assert joint == pytest.approx(scm.probability({"X": 1, "Y": 1}), abs=0.02)
    cond = data.loc[data["X"] == 0, "Y"].mean()
    assert cond == pytest.approx(scm.probability({"Y": 1}, {"X": 0}), abs=0.02)


def test_sample_three_state_variable():
    scm = SCM(
        {
            "A": Mechanism((), {(): (0.2, 0.5, 0.3)}),
            "B": bernoulli(("A",), {(0,): 0.1, (1,): 0.5, (2,): 0.95}),
        }
    )
    data = scm.sample(20000, np.random.default_rng(1))
    for a in range(3):
        assert (data["A"] == a).mean() == pytest.approx(scm.probability({"A": a}), abs=0.02)
    assert scm.probability({"B": 1}) == pytest.approx(0.2 * 0.1 + 0.5 * 0.5 + 0.3 * 0.95)
    assert data["B"].mean() == pytest.approx(scm.probability({"B": 1}), abs=0.02)


def test_sample_is_seeded():
    scm = chain()
    a = scm.sample(500, np.random.default_rng(5))
    b = scm.sample(500, np.random.default_rng(5))
    c = scm.sample(500, np.random.default_rng(6))
    assert a.equals(b)
    assert not a.equals(c)


def test_sample_under_do_is_constant():
    data = chain().do({"X": 0}).sample(2000, np.random.default_rng(0))
    assert (data["X"] == 0).all()
    assert data["Y"].mean() == pytest.approx(0.2, abs=0.03)


# --- construction checks -----------------------------------------------------------------------


def test_cyclic_graph_raises():
    with pytest.raises(ValueError, match="cycle"):
        SCM({"A": bernoulli(("B",), {(0,): 0.5, (1,): 0.5}), "B": bernoulli(("A",), {(0,): 0.5, (1,): 0.5})})


def test_unknown_parent_raises():
    with pytest.raises(ValueError, match="unknown parent 'W'"):
        SCM({"A": bernoulli(("W",), {(0,): 0.5, (1,): 0.5})})


def test_mechanism_validation():
    with pytest.raises(ValueError, match="sum to 1"):
        Mechanism((), {(): (0.5, 0.6)})
    with pytest.raises(ValueError, match=">= 0"):
        Mechanism((), {(): (-0.1, 1.1)})
    with pytest.raises(ValueError, match="does not match parents"):
        Mechanism(("A",), {(): (0.5, 0.5)})


def test_constant_mechanism():
    mech = constant(2, 4)
    assert mech.n_states == 4
    assert mech.table[()] == (0.0, 0.0, 1.0, 0.0)


def test_response_types_reproduce_the_table():
    mech = bernoulli(("X", "Z"), P_Y_GIVEN_XZ)
    types_ = mech.response_types()
    assert sum(w for w, _ in types_) == pytest.approx(1.0)
    assert len(types_) == 5  # four distinct cut points split [0, 1) into five intervals
    for key, (_, p1) in mech.table.items():
        assert sum(w for w, resp in types_ if resp[key] == 1) == pytest.approx(p1)
