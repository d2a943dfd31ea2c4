"""Counterfactual data augmentation: the gender swap and the registered data methods."""

from __future__ import annotations

import pytest

from causal_llm import testbed
from causal_llm.data import DATA_METHODS
from causal_llm.data.cda import NAME_PAIRS, CdaConfig, gender_swap
from causal_llm.data.cds import CdsConfig
from causal_llm.data.identity import IdentityConfig
from causal_llm.testbed import FEMALE, MALE, NAMES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("He left.", "She left."),
        ("HE LEFT.", "SHE LEFT."),
        ("he left.", "she left."),
        ("She said he was HERE.", "He said she was HERE."),
        ("SHE said it.", "HE said it."),
    ],
)
def test_case_is_kept(text, expected):
    assert gender_swap(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She lost her keys.", "He lost his keys."),  # possessive before a noun
        ("Her manager promoted her.", "His manager promoted him."),  # object at the end of a sentence
        ("He gave her a book.", "She gave him a book."),  # object before an article
        ("They told her Mary was late.", "They told him John was late."),  # object before a name
        ("I met her, then left.", "I met him, then left."),  # object before punctuation
        ("He thanked her and left.", "She thanked him and left."),
        ("She saw him and his dog.", "He saw her and her dog."),
        ("He did it himself.", "She did it herself."),
    ],
)
def test_her_his_him(text, expected):
    assert gender_swap(text) == expected


def test_words_containing_gendered_letters_are_untouched():
    text = "The shell there, then other sheep: the theme of Theo's shed."
    assert gender_swap(text) == text


def test_non_words_are_kept_exactly():
    text = '  He\tsaid:\n"she\'s 42!" -- (his)  '
    assert gender_swap(text) == '  She\tsaid:\n"he\'s 42!" -- (her)  '


def test_paired_names_swap_both_ways_and_other_names_do_not():
    assert gender_swap("Mary met John.") == "John met Mary."
    assert gender_swap("MARY and anna") == "JOHN and david"
    assert gender_swap("Zoe met Bob.") == "Zoe met Bob."
    for female, male in NAME_PAIRS:
        assert gender_swap(female) == male
        assert gender_swap(male) == female


def test_other_gendered_words():
    assert gender_swap("The mother and her daughters.") == "The father and his sons."
    assert gender_swap("A king, a Queen, the WOMEN.") == "A queen, a King, the MEN."


@pytest.mark.parametrize(
    "text",
    [
        "She told him that his sister was a nurse.",
        "Mary gave John her book, and he thanked her.",
        "The waitress and the actor met the Queen.",
    ],
)
def test_swapping_twice_returns_the_original(text):
    assert gender_swap(text) != text
    assert gender_swap(gender_swap(text)) == text


def test_swapping_a_story_gives_the_story_of_the_other_gender(stories):
    """Testbed names pair up as in NAME_PAIRS, so a swapped story is the other gender's story."""
    partner = {NAMES[FEMALE][i]: NAMES[MALE][i] for i in range(len(NAMES[FEMALE]))}
    partner.update({m: f for f, m in partner.items()})
    for _, row in stories.head(60).iterrows():
        flipped = row.copy()
        flipped["gender"] = MALE if int(row["gender"]) == FEMALE else FEMALE
        flipped["name"] = partner[row["name"]]
        assert gender_swap(row["text"]) == testbed.story_text(flipped)
        assert gender_swap(gender_swap(row["text"])) == row["text"]


def test_upper_case_possessive():
    assert gender_swap("HER BOOK") == "HIS BOOK"


# --- augmenters --------------------------------------------------------------------------------

TEXTS = [f"Story {i}: she met Mary and her friend." for i in range(400)]


def run(method: str, texts, cfg, seed: int = 0) -> list[str]:
    return DATA_METHODS.get(method).run(texts, cfg, seed)


def test_cda_two_sided_doubles_the_corpus():
    out = run("cda_two_sided", TEXTS[:10], CdaConfig())
    assert len(out) == 20
    assert out[:10] == TEXTS[:10]
    assert out[10:] == [gender_swap(t) for t in TEXTS[:10]]
    assert out[10] == "Story 0: he met John and his friend."


def test_cds_swaps_about_half_and_is_seeded():
    out = run("cds", TEXTS, CdsConfig())
    assert len(out) == len(TEXTS)
    swapped = [o != t for o, t in zip(out, TEXTS, strict=True)]
    assert all(o in (t, gender_swap(t)) for o, t in zip(out, TEXTS, strict=True))
    assert 0.4 < sum(swapped) / len(TEXTS) < 0.6
    assert run("cds", TEXTS, CdsConfig()) == out
    assert run("cds", TEXTS, CdsConfig(), seed=1) != out
    rare = run("cds", TEXTS, CdsConfig(probability=0.1))
    assert 0.05 < sum(o != t for o, t in zip(rare, TEXTS, strict=True)) / len(TEXTS) < 0.15


def test_identity_is_the_corpus_unchanged():
    assert run("identity", TEXTS[:3], IdentityConfig()) == TEXTS[:3]


def test_registered_data_methods_and_an_unknown_name():
    assert {"identity", "cda_two_sided", "cds"} <= set(DATA_METHODS.names())
    assert DATA_METHODS.get("cds").config is CdsConfig
    with pytest.raises(KeyError, match="Did you mean 'cda_two_sided'"):
        DATA_METHODS.get("cda_two_side")
