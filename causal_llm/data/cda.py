"""Counterfactual data augmentation (CDA) for gender, and the word swap CDS shares.

Lu et al. 2019 and Webster et al. 2020 (CDA), Hall Maudslay et al. 2019 (the names intervention);
definitions in docs/methods.md#cda. Each word of a bias-attribute list is swapped with its
counterpart: case is kept, "her" becomes "his" (possessive) or "him" (object) by the word that
follows, words inside other words are untouched, and first names swap through a paired name list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from causal_llm.data import DATA_METHODS

# A subset of bias-bench's bias_attribute_words.json (gender), one pair a line.
GENDER_PAIRS: tuple[tuple[str, str], ...] = (
    ("she", "he"),
    ("herself", "himself"),
    ("hers", "his"),
    ("woman", "man"),
    ("women", "men"),
    ("girl", "boy"),
    ("girls", "boys"),
    ("mother", "father"),
    ("mothers", "fathers"),
    ("daughter", "son"),
    ("daughters", "sons"),
    ("sister", "brother"),
    ("sisters", "brothers"),
    ("wife", "husband"),
    ("wives", "husbands"),
    ("queen", "king"),
    ("queens", "kings"),
    ("lady", "gentleman"),
    ("ladies", "gentlemen"),
    ("female", "male"),
    ("females", "males"),
    ("aunt", "uncle"),
    ("aunts", "uncles"),
    ("niece", "nephew"),
    ("nieces", "nephews"),
    ("grandmother", "grandfather"),
    ("bride", "groom"),
    ("girlfriend", "boyfriend"),
    ("mrs", "mr"),
    ("ms", "mr"),
    ("madam", "sir"),
    ("actress", "actor"),
    ("waitress", "waiter"),
    ("mom", "dad"),
    ("feminine", "masculine"),
    ("princess", "prince"),
    ("heroine", "hero"),
    ("fiancee", "fiance"),
)
# Names intervention: female <-> male first names, paired (Hall Maudslay et al. 2019).
NAME_PAIRS: tuple[tuple[str, str], ...] = (
    ("Mary", "John"),
    ("Anna", "David"),
    ("Linda", "James"),
    ("Susan", "Robert"),
    ("Emma", "Peter"),
    ("Julia", "Thomas"),
    ("Sarah", "Paul"),
    ("Laura", "Mark"),
    ("Elizabeth", "William"),
    ("Jennifer", "Michael"),
    ("Patricia", "Richard"),
    ("Barbara", "Charles"),
    ("Alice", "Daniel"),
)
# Words after which "her" is an object ("gave her a", "told her that"), not a possessive.
_NOT_A_NOUN_PHRASE = frozenset(
    [
        "a",
        "an",
        "the",
        "to",
        "and",
        "or",
        "but",
        "at",
        "in",
        "on",
        "for",
        "with",
        "from",
        "by",
        "of",
        "as",
        "than",
        "that",
        "this",
        "these",
        "those",
        "so",
        "then",
        "when",
        "while",
        "if",
        "because",
        "about",
        "into",
        "over",
        "under",
        "after",
        "before",
        "again",
        "back",
        "up",
        "down",
        "out",
        "off",
        "now",
        "too",
        "very",
    ]
)
_TOKEN = re.compile(r"[A-Za-z]+|[^A-Za-z]+")


def _swap_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for a, b in GENDER_PAIRS:
        table.setdefault(a, b)
        table.setdefault(b, a)
    table["his"] = "her"  # "his" -> "her" both as possessive and pronoun; "hers" above covers the rest
    table["him"] = "her"
    for a, b in NAME_PAIRS:
        table[a.lower()] = b.lower()
        table[b.lower()] = a.lower()
    return table


SWAPS = _swap_table()


def _match_case(template: str, word: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[0].isupper():
        return word[0].upper() + word[1:]
    return word


def _next_word(tokens: list[str], i: int) -> str | None:
    """The next alphabetic token if only spaces separate it from token i, else None (punctuation)."""
    if i + 2 < len(tokens) and tokens[i + 1].strip() == "" and tokens[i + 2].isalpha():
        return tokens[i + 2]
    return None


def gender_swap(text: str) -> str:
    """Swap every gendered word and paired first name in ``text`` for its counterpart."""
    tokens = _TOKEN.findall(text)
    out = []
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if not tok.isalpha():
            out.append(tok)
            continue
        if low == "her":
            nxt = _next_word(tokens, i)
            is_name = nxt is not None and nxt[0].isupper() and not nxt.isupper()  # "called her Mary"
            possessive = nxt is not None and not is_name and nxt.lower() not in _NOT_A_NOUN_PHRASE
            out.append(_match_case(tok, "his" if possessive else "him"))
        elif low in SWAPS:
            out.append(_match_case(tok, SWAPS[low]))
        else:
            out.append(tok)
    return "".join(out)


@dataclass(frozen=True)
class CdaConfig:
    """Two-sided CDA has no settings: every document is kept and its swapped copy added."""


@DATA_METHODS.method("cda_two_sided", CdaConfig)
def cda_two_sided(texts: Sequence[str], cfg: CdaConfig, seed: int) -> list[str]:
    """Two-sided CDA: every original document plus its gender-swapped copy."""
    texts = list(texts)
    return texts + [gender_swap(t) for t in texts]
