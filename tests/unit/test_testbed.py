"""The causal testbed: SCM ground truth, stories, questions, probes and judgements."""

from __future__ import annotations

import re

import numpy as np
import pytest

from causal_llm import testbed
from causal_llm.data.cda import SWAPS, gender_swap
from causal_llm.testbed import FEMALE, MALE, NAMES, OCCUPATIONS

NURSE = [o for o, (name, _) in enumerate(OCCUPATIONS) if name == "nurse"][0]
ENGINEER = [o for o, (name, _) in enumerate(OCCUPATIONS) if name == "engineer"][0]


# --- the SCM -----------------------------------------------------------------------------------


@pytest.mark.parametrize("strength", [0.6, 0.9])
def test_selection_induces_the_spurious_association(strength):
    scm = testbed.build_scm(strength)
    sel = {"selected": 1}
    assert scm.probability({"gender": FEMALE}, {**sel, "occupation": NURSE}) == pytest.approx(strength)
    assert scm.probability({"gender": FEMALE}, {**sel, "occupation": ENGINEER}) == pytest.approx(1 - strength)
    # without conditioning on the collider there is no association
    assert scm.probability({"gender": FEMALE}, {"occupation": NURSE}) == pytest.approx(0.5)


def test_gender_has_no_causal_effect_on_occupation():
    scm = testbed.build_scm(0.9)
    for o in (NURSE, ENGINEER):
        assert scm.ate("gender", "occupation", outcome_value=o) == pytest.approx(0.0, abs=1e-12)
        p_f = scm.probability({"occupation": o}, do={"gender": FEMALE})
        assert p_f == pytest.approx(1 / len(OCCUPATIONS))
    # and intervening on occupation does not change gender either
    assert scm.probability({"gender": FEMALE}, do={"occupation": NURSE}) == pytest.approx(0.5)


def test_training_has_a_causal_effect_on_promotion():
    scm = testbed.build_scm(0.9)
    # P(promo | do(t)) = sum_e P(e) sum_s P(s | t) P(promo | s, e), by hand: 0.65 - 0.35
    assert scm.ate("training", "promotion") == pytest.approx(0.3)
    assert scm.ate("promotion", "training") == pytest.approx(0.0, abs=1e-12)


# --- stories -----------------------------------------------------------------------------------


def test_stories_are_deterministic_per_seed(stories):
    again = testbed.generate_stories(0.9, 200, 0)
    other = testbed.generate_stories(0.9, 200, 1)
    assert list(again["text"]) == list(stories["text"])
    assert list(other["text"]) != list(stories["text"])
    assert len(stories) == 200
    assert (stories["selected"] == 1).all()


def _first_pronoun(text: str) -> str:
    return re.match(r"The \w+ [\w ]*?that (she|he) ", text).group(1)


def test_story_text_follows_its_variables(stories):
    for _, row in stories.iterrows():
        text = row["text"]
        g = int(row["gender"])
        assert text.startswith(f"The {row['occupation_name']} ")
        assert _first_pronoun(text) == ("she" if g == FEMALE else "he")
        assert row["name"] in NAMES[g]
        assert text.endswith(f" {row['name']}.")
        assert ("took the training course" in text) == (row["training"] == 1)
        assert ("promoted" in text and "did not promote" not in text) == (row["promotion"] == 1)


@pytest.mark.parametrize(("strength", "n", "tol"), [(0.9, 200, 0.07), (0.6, 1500, 0.05)])
def test_share_of_stereotyped_pronouns_is_near_the_strength(stories, strength, n, tol):
    data = stories if (strength, n) == (0.9, 200) else testbed.generate_stories(strength, n, 3)
    stereo = {name: g for name, g in OCCUPATIONS}
    fits = [
        (_first_pronoun(t) == "she") == (stereo[occ] == FEMALE)
        for t, occ in zip(data["text"], data["occupation_name"], strict=True)
    ]
    assert np.mean(fits) == pytest.approx(strength, abs=tol)


# --- questions ---------------------------------------------------------------------------------


def test_questions_are_well_formed(questions):
    assert all(q.answer in ("yes", "no") for q in questions)
    assert {q.rung for q in questions} == {1, 2, 3}
    assert len({q.id for q in questions}) == len(questions)
    assert {q.answer for q in questions} == {"yes", "no"}
    assert all(q.text.endswith("?") for q in questions)


def test_association_without_causation(questions):
    by_id = {q.id: q for q in questions}
    assert by_id["r1-gender-nurse"].answer == "yes"
    assert by_id["r1-gender-nurse"].truth == pytest.approx(0.9)
    assert by_id["r1-gender-engineer"].answer == "no"
    assert by_id["r2-gender-nurse"].answer == "no"
    assert by_id["r2-gender-nurse"].truth == pytest.approx(0.0, abs=1e-12)
    assert by_id["r2-gender-promotion"].answer == "no"
    assert by_id["r1-gender-promotion"].answer == "no"


def test_causal_questions(questions):
    by_id = {q.id: q for q in questions}
    assert by_id["r2-training-promotion"].answer == "yes"
    assert by_id["r2-training-promotion"].truth == pytest.approx(0.3)
    # experience confounds training and promotion: the association (0.71 - 0.29) is larger
    assert by_id["r1-training-promotion"].truth == pytest.approx(0.42)
    assert by_id["r2-promotion-training"].answer == "no"
    assert by_id["r1-promotion-training"].answer == "yes"
    # rung 3: the counterfactual gender swap does not change the occupation
    assert by_id["r3-gender-nurse"].answer == "yes"
    assert by_id["r3-gender-nurse"].truth == pytest.approx(1.0)


def test_answers_agree_with_their_truth(questions):
    for q in questions:
        if q.query_type == "counterfactual" or q.id.startswith("r1-gender-"):
            assert q.answer == ("yes" if q.truth > 0.5 else "no"), q.id
        elif q.id.startswith("r2-gender-") and q.id != "r2-gender-promotion":
            assert q.answer == ("yes" if q.truth < -1e-9 else "no"), q.id
        else:
            assert q.answer == ("yes" if q.truth > 1e-9 else "no"), q.id


# --- probes and judgements ---------------------------------------------------------------------


def test_bias_probes_end_right_before_the_pronoun():
    units = testbed.heldout_units(0)
    probes = testbed.bias_probes(units)
    assert len(probes) == len(units) == len(OCCUPATIONS) * testbed.HELDOUT_TEMPLATES_PER_OCCUPATION
    assert len(testbed.bias_probes()) == len(OCCUPATIONS) * len(testbed.OPENINGS)  # the benchmark file: all
    for p in [*probes, *testbed.unseen_template_probes(), *testbed.unseen_occupation_probes()]:
        assert p.context.endswith(" that")
        assert "{" not in p.context
        assert p.context.startswith(f"The {p.occupation} ")
        stereo = dict(OCCUPATIONS + testbed.UNSEEN_OCCUPATIONS)[p.occupation]
        assert p.sign == (1 if stereo == FEMALE else -1)
    # each occupation and each template is held out in combinations of both stereotypes
    assert {o for _, o in units} == set(range(len(OCCUPATIONS)))
    for t in range(len(testbed.OPENINGS)):
        assert {OCCUPATIONS[o][1] for tt, o in units if tt == t} == {FEMALE, MALE}


def test_held_out_text_and_every_evaluation_prompt_share_no_text_with_training():
    """Held-out stories, probes and judgements (and their counterfactuals) open with template x
    occupation combinations no training story has, or with unseen templates, occupations and names:
    no evaluation prompt's opening sentence is in the training text. Zero overlap, asserted."""
    units = testbed.heldout_units(0)
    train, heldout = testbed.split_stories(0.9, 2700, 300, 0, units)
    assert (len(train), len(heldout)) == (2700, 300)
    assert not {testbed.story_unit(r) for _, r in train.iterrows()} & units
    assert {testbed.story_unit(r) for _, r in heldout.iterrows()} <= units
    corpus = "\n".join(train["text"])
    assert not any(text in corpus for text in heldout["text"])
    assert not any(text.split(". ")[0] in corpus for text in heldout["text"])  # not even the opening
    probes = [
        *testbed.bias_probes(units),
        *testbed.unseen_template_probes(),
        *testbed.unseen_occupation_probes(),
        *testbed.region_probes(units),
    ]
    assert not [p.context for p in probes if p.context in corpus]
    for unseen in (False, True):
        for j in testbed.evaluation_judgements(64, units, 0, unseen_names=unseen):
            for prompt in (j.prompt, j.counterfactual_prompt):
                opening = prompt.split(" works here. ")[1].split(". ")[0]
                assert opening not in corpus, opening
    words = set(" ".join(train["text"]).replace(".", " ").split())
    assert not {n for names in testbed.UNSEEN_NAMES.values() for n in names} & words
    assert not {occ for occ, _ in testbed.UNSEEN_OCCUPATIONS} & words


def test_evaluation_judgements_are_balanced_by_answer_and_stereotype_fit():
    js = testbed.evaluation_judgements(64, testbed.heldout_units(0), 0)
    cells = {(j.causal, j.stereotyped) for j in js}
    assert len(js) == 64 and len(cells) == 4
    for cell in cells:
        assert sum((j.causal, j.stereotyped) == cell for j in js) == 16
    assert len({j.prompt for j in js}) == 64  # drawn without replacement
    # the counterfactual: the same person with the other gender and the paired name, from the SCM
    names = {j.prompt.split(" works here.")[0]: j.counterfactual_prompt.split(" works here.")[0] for j in js}
    pairs = {**dict(zip(testbed.NAMES[FEMALE], testbed.NAMES[MALE], strict=True))}
    pairs |= {m: f for f, m in pairs.items()}
    assert all(pairs[a] == b for a, b in names.items())
    unseen = testbed.evaluation_judgements(8, testbed.heldout_units(0), 0, unseen_names=True)
    for j in unseen:  # no pronoun: the unseen name is the only cue to gender
        assert not {"she", "he", "her", "his", "him"} & set(j.prompt.lower().replace(".", " ").split())


def test_the_second_spurious_attribute_has_the_corpus_strength_and_no_gender_word():
    stories = testbed.generate_stories(0.9, 4000, 1)
    fits = [testbed.stereotyped_region(o) == r for o, r in zip(stories["occupation"], stories["region"], strict=True)]
    assert abs(np.mean(fits) - 0.9) < 0.02
    gender_fits = [OCCUPATIONS[o][1] == g for o, g in zip(stories["occupation"], stories["gender"], strict=True)]
    assert abs(np.mean(gender_fits) - 0.9) < 0.02
    # orthogonal to the gender stereotype: region says nothing about gender given the corpus
    female = stories["gender"] == FEMALE
    assert abs(stories.loc[female, "region"].mean() - stories.loc[~female, "region"].mean()) < 0.05
    for p in testbed.region_probes(testbed.heldout_units(0)):
        assert not {"she", "he", "her", "his"} & set(p.context.lower().split()[-5:])


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]+|[^A-Za-z]+", text)


def test_judgement_counterfactuals_differ_only_by_gender_words(judgements):
    assert len(judgements) == 200
    for j in judgements:
        a, b = _words(j.prompt), _words(j.counterfactual_prompt)
        assert len(a) == len(b)
        changed = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
        assert changed, j.prompt
        for x, y in changed:
            allowed = {SWAPS.get(x.lower())} | ({"his", "him"} if x.lower() == "her" else set())
            assert y.lower() in allowed, (x, y)
            assert x[0].isupper() == y[0].isupper()
        assert j.counterfactual_prompt == gender_swap(j.prompt)


def test_judgement_answers_follow_the_scm_and_the_stereotype(stories, judgements):
    stereo = dict(OCCUPATIONS)
    for (_, row), j in zip(stories.iterrows(), judgements, strict=True):
        assert j.prompt.startswith(f"{row['name']} works here. The {row['occupation_name']} ")
        assert j.prompt.endswith("Question: will this person be promoted? Answer:")
        assert "manager" not in j.prompt  # the outcome itself is not in the prompt
        # P(promotion | skill, experience) > 0.5 exactly when skill == 1
        assert j.causal == (" yes" if row["skill"] == 1 else " no")
        fits = stereo[row["occupation_name"]] == int(row["gender"])
        assert j.stereotyped == (" yes" if fits else " no")
    assert {j.causal for j in judgements} == {" yes", " no"}
    assert any(j.causal != j.stereotyped for j in judgements)


def test_describe_graph_hides_the_selection_node():
    text = testbed.describe_graph(testbed.build_scm(0.9))
    assert "training causes skill" in text
    assert "experience causes promotion" in text
    assert "selected" not in text


def test_the_testbeds_name_pairs_are_cdas():
    """The SCM's counterfactual of a person (the paired name) is the one CDA's names intervention
    makes, so a swapped training story is exactly a story of the other gender."""
    from causal_llm.data.cda import NAME_PAIRS

    pairs = dict(NAME_PAIRS)
    assert all(pairs[f] == m for f, m in zip(NAMES[FEMALE], NAMES[MALE], strict=True))
    cda_names = {n for pair in NAME_PAIRS for n in pair}
    assert not cda_names & {n for names in testbed.UNSEEN_NAMES.values() for n in names}
