"""Counterfactual data augmentation: the gender swap and the registered data methods."""

from __future__ import annotations

import itertools

import pytest

from causal_llm import testbed
from causal_llm.data import DATA_METHODS
from causal_llm.data.cda import NAME_PAIRS, CdaConfig, gender_swap
from causal_llm.data.cds import CdsConfig
from causal_llm.data.identity import IdentityConfig
from causal_llm.testbed import FEMALE, MALE, NAMES, PRONOUNS


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
        ("her book", "his book"),
        ("her own", "his own"),
        ("She did it for her own good.", "He did it for his own good."),
        ("her new car", "his new car"),  # adjective, then a noun
        ("her very first job", "his very first job"),  # degree adverb, adjective, noun
        ("her long, dark hair", "his long, dark hair"),  # coordinated adjectives
        ("her two friends", "his two friends"),  # a number as a modifier
        ("her every move", "his every move"),
        ("her well-being", "his well-being"),  # a hyphenated compound
        ("on her back", "on his back"),  # a particle noun after a preposition
        ("against her will", "against his will"),
        ("did her best", "did his best"),
        ("Her Majesty", "His Majesty"),  # a title, not a name
        ("Her manager promoted her.", "His manager promoted him."),  # object at the end of a sentence
        ("Her manager promoted her at the end of the year.", "His manager promoted him at the end of the year."),
        ("He gave her a book.", "She gave him a book."),  # object before an article
        ("gave her two books", "gave him two books"),  # a number after a verb of giving
        ("told her that", "told him that"),
        ("They told her Mary was late.", "They told him John was late."),  # object before a name
        ("Everyone called her Mary.", "Everyone called him John."),
        ("called HER MARY", "called HIM JOHN"),
        ("I met her, then left.", "I met him, then left."),  # object before punctuation
        ("to her, and", "to him, and"),
        ("with her.", "with him."),
        ("Look at her.", "Look at him."),
        ("Tell her", "Tell him"),  # the end of the text
        ("about her", "about him"),
        ("He thanked her and left.", "She thanked him and left."),
        ("her and her friends", "him and his friends"),
        ("Her and her friends left.", "Him and his friends left."),
        ("saw her yesterday", "saw him yesterday"),  # a time adverb
        ("saw her last week", "saw him last week"),
        ("told her not to", "told him not to"),
        ("asked her why", "asked him why"),
        ("told her he was late", "told him she was late"),  # a pronoun
        ("brought her back", "brought him back"),  # a particle after a verb
        ("keep her safe", "keep him safe"),  # an adjective as a complement
        ("made her happy", "made him happy"),
        ("made her very happy again", "made him very happy again"),
        ("keep her safe from harm", "keep him safe from harm"),
        ("left her confused.", "left him confused."),
        ("let her go", "let him go"),  # a bare verb after let/make/help/see
        ("made her cry", "made him cry"),
        ("made her bed", "made his bed"),
        ("help her find it", "help him find it"),
        ("HER BOOK", "HIS BOOK"),
        ("She saw him and his dog.", "He saw her and her dog."),
        ("his new car", "her new car"),
        ("his own", "her own"),
        ("The book is his.", "The book is hers."),  # an independent possessive
        ("a friend of his in Paris", "a friend of hers in Paris"),
        ("his and hers", "hers and his"),
        ("hers", "his"),
        ("The keys are hers.", "The keys are his."),
        ("him", "her"),
        ("He did it himself.", "She did it herself."),
        ("She hurt herself.", "He hurt himself."),
    ],
)
def test_her_his_him(text, expected):
    assert gender_swap(text) == expected
    assert gender_swap(expected) == text


def test_words_containing_gendered_letters_are_untouched():
    text = "The shell there, then other sheep: the theme of Theo's shed, ashes, Sherlock, Hermes, her2, she_x."
    assert gender_swap(text) == text


def test_non_words_are_kept_exactly():
    text = '  He\tsaid:\n"she\'s 42!" -- (his)  '
    assert gender_swap(text) == '  She\tsaid:\n"he\'s 42!" -- (hers)  '


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


# --- the testbed: a swapped story is the other gender's story ----------------------------------


def test_testbed_names_pair_up_as_the_name_list_does():
    for female, male in zip(NAMES[FEMALE], NAMES[MALE], strict=True):
        assert gender_swap(female) == male and gender_swap(male) == female


class _Slots(dict):
    def __missing__(self, key: str) -> str:  # a slot this test does not fill stays as written
        return "{" + key + "}"


def _fill(template: str, gender: int, name: str, occupation: str) -> str:
    subj, obj, pos = PRONOUNS[gender]
    slots = {"Subj": subj.capitalize(), "subj": subj, "obj": obj, "pos": pos, "Pos": pos.capitalize()}
    return template.format_map(_Slots(slots, name=name, occ=occupation))


def test_every_testbed_template_swaps_into_the_other_gender():
    """Every sentence template of testbed.py (any module-level string or tuple of strings with a
    slot), with every occupation and paired name, swaps exactly into the other gender's sentence."""
    templates = [
        t
        for value in vars(testbed).values()
        if isinstance(value, str | tuple)
        for t in (value if isinstance(value, tuple) else (value,))
        if isinstance(t, str) and "{" in t
    ]
    assert {*testbed.OPENINGS, *testbed.SKILL, *testbed.PROMOTION, testbed.CLOSING} <= set(templates)
    occupations = [o for value in vars(testbed).values() if isinstance(value, tuple) for o in value]
    occupations = {o[0] for o in occupations if isinstance(o, tuple) and len(o) == 2 and o[1] in (FEMALE, MALE)}
    assert {o for o, _ in testbed.OCCUPATIONS} <= occupations
    for template, occupation, (female, male) in itertools.product(
        templates, sorted(occupations), zip(NAMES[FEMALE], NAMES[MALE], strict=True)
    ):
        her, his = _fill(template, FEMALE, female, occupation), _fill(template, MALE, male, occupation)
        assert gender_swap(her) == his, template
        assert gender_swap(his) == her, template


def test_every_testbed_story_swaps_into_the_other_gender(stories):
    """story_text over every combination of opening, variable values, occupation and paired name:
    the swapped story is the story of the paired name with the other gender, both ways."""
    base = stories.iloc[0].to_dict()  # any further columns (the region) as in a generated story
    values = itertools.product(
        range(len(testbed.OPENINGS)),
        range(len(testbed.EXPERIENCE)),
        range(len(testbed.TRAINING)),
        range(len(testbed.SKILL)),
        range(len(testbed.PROMOTION)),
        range(len(testbed.OCCUPATIONS)),
        range(len(NAMES[FEMALE])),
    )
    for template, experience, training, skill, promotion, occupation, name in values:
        row = {
            **base,
            "template": template,
            "experience": experience,
            "training": training,
            "skill": skill,
            "promotion": promotion,
            "occupation": occupation,
        }
        her = testbed.story_text({**row, "gender": FEMALE, "name": NAMES[FEMALE][name]})
        his = testbed.story_text({**row, "gender": MALE, "name": NAMES[MALE][name]})
        assert gender_swap(her) == his, her
        assert gender_swap(his) == her, his


def test_swapped_judgement_prompts_are_the_other_genders_prompts(stories):
    partner = dict(zip(NAMES[FEMALE], NAMES[MALE], strict=True))
    partner.update({m: f for f, m in partner.items()})
    flipped = stories.assign(
        gender=stories["gender"].map({FEMALE: MALE, MALE: FEMALE}), name=[partner[n] for n in stories["name"]]
    )
    factual = testbed.generate_judgements(stories, gender_swap)
    other = testbed.generate_judgements(flipped, lambda text: text)
    for j, k in zip(factual, other, strict=True):
        assert j.counterfactual_prompt == k.prompt


def test_upper_case_possessive():
    assert gender_swap("HER BOOK") == "HIS BOOK"
    assert gender_swap("GIVE IT TO HER.") == "GIVE IT TO HIM."


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
