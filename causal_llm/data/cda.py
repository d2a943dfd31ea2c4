"""Counterfactual data augmentation (CDA) for gender, and the word swap CDS shares.

Lu et al. 2019 and Webster et al. 2020 (CDA), Hall Maudslay et al. 2019 (the names intervention);
definitions in docs/methods.md#cda. Each word of a bias-attribute list is swapped with its
counterpart: case is kept ("Her" -> "His", "HER" -> "HIM"), a word is a whole run of letters, digits
and underscores (so "there", "ashes", "Sherlock" and "her2" are untouched), and first names swap
through a paired name list.

"her" is a possessive determiner ("his") or an object pronoun ("him"); "his" is a determiner
("her") or an independent possessive ("hers"). No tagger model can be fetched at run time (NLTK is
only a dependency here, without its tagger data), so a compact word-class lexicon decides, reading the
words after the pronoun (an item is a word, a number, a hyphenated compound, a comma, or a boundary: other
punctuation or the end of the text) and the one word before it:

1. A boundary or a comma next ("with her.", "to her, and") -> object.
2. "own", "best", "utmost", "worst", or a compound ("her well-being") -> possessive.
3. A paired first name, or (after a lower-case "her") any capitalised word that is not a title
   like "Majesty" -> object ("called her Mary"). A capitalised "Her" starts a sentence or a title,
   so there a capitalised word is a noun ("Her Majesty").
4. "back", "home", "past", "will", "might" -> possessive after a word of rule 5 ("on her back",
   "against her will", "with all her might") or with no word before it ("her home."); object after
   any other word, taken for a verb ("brought her back", "drove her home").
5. A preposition, conjunction, wh-word, article or other determiner, pronoun, auxiliary, or a time,
   place or sentence adverb ("yesterday", "again", "now", "not", "alone") -> object ("gave her a
   book", "told her that", "saw her yesterday", "her and her friends").
6. A bare verb from a short list after "let", "make", "help", "see", "watch", "hear", "feel", "bid"
   or "notice" -> object ("let her go", "made her cry").
7. "every", "last" or "next" before a time noun -> object ("saw her last week", "every day").
8. A number, a quantifier ("two", "many", "more") or "every" after a verb that takes two objects
   ("gave", "told", "paid", ...) -> object ("gave her two books"); elsewhere it is a modifier ("her
   two sons", "her every move").
9. Otherwise skip modifiers: adjectives from a list or by suffix (-ous, -ful, -less, -ly, -ed),
   degree adverbs and quantifiers, also coordinated ("safe and warm", "long, dark"). If any were
   skipped and what follows is a boundary, a comma, "every" or a word of rule 5 (not of rule 4), the
   adjective is a complement and "her" the object ("keep her safe", "made her very happy", "keep her
   safe from harm"), whatever the verb; otherwise a noun follows and "her" is possessive ("her new
   car", "her very first job"). With nothing skipped, the next word is taken for a noun ("her book").

"his" becomes "hers" when a boundary, a comma or a word of rule 5 follows ("the book is his.", "his
and hers"), less the few of them that can start a noun phrase ("his down payment", "his all"); else
"her";
"him" becomes "her", "hers" becomes "his", "himself" "herself".

Known limits: the lexicon is finite and knows no sense. A bare noun after a verb of giving reads as
possessive ("gave her flowers" -> "gave his flowers"); a finite verb right after "her" as a noun
("the man who met her says" -> "his says"); "-ing" words as nouns ("saw her crying" -> "his
crying"); nouns read as particles outside a preposition ("hurt her back" -> "him back", "sold her
home"); nouns that look like adjectives or participles read as complements before a boundary
("opened her safe." -> "him safe."); a capitalised adjective after "her" as a name ("her English
teacher" -> "him English teacher"); "liked her best" as possessive; "last"/"next" + time noun as an
adverb ("her last year at school" -> "him last year"); words in quotes after "her" as a boundary.
Where a rule misreads, swapping twice may not give the original back. The testbed's templates are
all read right (tests/unit/test_cda.py checks every one).
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


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The word classes that read "her" and "his" (rules in the module docstring).
PREPOSITIONS = _words(
    "about above across after against along amid among around as at before behind below beneath beside besides "
    "between beyond by despite down during except for from in inside into like near of off on onto out outside "
    "over past per since than through throughout till to toward towards under underneath until unlike up upon via "
    "with within without"
)
CONJUNCTIONS = _words(
    "and or but nor yet because if unless although though while whereas whether when whenever where wherever "
    "what which who whom whose why how"
)
DETERMINERS = _words(
    "a an the this that these those my your his her its our their some any no each another such all both"
)
PRONOUNS = _words(
    "i you he she it we they me him us them myself yourself himself herself itself ourselves themselves mine yours "
    "hers ours theirs someone somebody something anyone anybody anything everyone everybody everything nobody nothing"
)
AUXILIARIES = _words(
    "am is are was were be been being has have had do does did will would shall should can could may might must"
)
ADVERBS = _words(  # time, place and sentence adverbs: taken for never inside a noun phrase
    "again ago alone already also always anyway anywhere apart aside away else elsewhere enough even ever everywhere "
    "here instead just maybe meanwhile never not now often once perhaps rather so soon sometimes somewhere still "
    "then there today together tomorrow tonight too twice well yesterday overnight afterwards forward abroad "
    "indoors outdoors upstairs downstairs"
)
# "her" is an object before these (rule 5); "his" an independent possessive ("hers").
OBJECT_MARKERS = PREPOSITIONS | CONJUNCTIONS | DETERMINERS | PRONOUNS | AUXILIARIES | ADVERBS
# Nouns that double as particles or auxiliaries (rule 4).
PARTICLE_NOUNS = _words("back home past will might")
POSSESSED = _words("own best utmost worst")  # "her own", "did her best"
TITLES = _words("majesty highness ladyship excellency grace honour honor")  # "Her Majesty", "her Ladyship"
DEGREE_ADVERBS = _words("very quite really rather most more less least much far pretty almost only nearly fairly")
QUANTIFIERS = _words(
    "many much more most few fewer less least several little one two three four five six seven eight nine ten "
    "eleven twelve twenty thirty forty fifty hundred thousand million dozen half"
)
ADJECTIVES = _words(
    "able afraid alive angry asleep awake aware bad better big black blue brown busy calm certain cheap clean clear "
    "close cold cool crazy cute dark dead dear deep different dirty dry early easy elder eldest entire excellent "
    "extra fair false fast fat favorite favourite first former free fresh full funny glad good grand great green "
    "grey gray guilty happy hard healthy heavy high honest hot huge hungry ill important innocent last late later "
    "earlier latest little long loud low lucky mad main new next nice old older oldest only open other pale perfect "
    "pink poor pretty proud quick quiet ready real recent red rich rough sad safe same sane serious short shy sick "
    "silent simple single slim slow small smart soft sorry special strange strict strong stupid sure sweet tall thin "
    "tight tiny true ugly unhappy upset warm weak wet white whole wide wild wise wrong young younger youngest "
    "biggest greatest closest dearest finest happiest newest highest largest smallest longest"
)
# Words with an adjective's suffix that are nouns ("her family", "her reply", "her hatred").
NOT_ADJECTIVES = _words(
    "family belly bully ally rally jelly lily fly butterfly july italy assembly supply reply monopoly anomaly holly "
    "folly tally apply comply rely imply emily kelly molly hundred hatred kindred deathbed sickbed seabed flowerbed"
)
TIME_NOUNS = _words(
    "morning afternoon evening night week weekend month year summer winter spring autumn fall monday tuesday "
    "wednesday thursday friday saturday sunday"
)
# Rule 7: "saw her every day", "met her last week" (but "her last day", "her next time").
TIME_ADVERBS = {"every": TIME_NOUNS | {"day", "time"}, "last": TIME_NOUNS, "next": TIME_NOUNS}
# Verbs whose object is followed by a bare verb ("let her go", "made her cry", "saw her leave").
CAUSATIVE_VERBS = _words(
    "let lets letting make makes made making help helps helped helping watch watches watched watching see sees saw "
    "seen seeing hear hears heard hearing feel feels felt feeling bid notice notices noticed noticing"
)
BARE_VERBS = _words(
    "be become come cry dance decide die do drive eat fall feel find finish forget get give go grow hear help jump "
    "know laugh learn leave lie listen live look lose love make marry meet pay pray pull push read realize realise "
    "remember rest run say scream see sell shout sing sit sleep smile speak spend stand start stay stop study swim "
    "take talk tell think throw try turn understand use wait wake walk want wash watch wear win wish worry write"
)
# Verbs that take two objects: "her" + a number or quantifier is their first ("gave her two books").
DITRANSITIVE_VERBS = _words(
    "give gives gave given giving pay pays paid paying send sends sent sending offer offers offered offering owe "
    "owes owed hand hands handed lend lends lent show shows showed shown bring brings brought buy buys bought tell "
    "tells told telling teach teaches taught promise promises promised cost costs charge charges charged award "
    "awarded grant granted allow allowed deny denied wish wished ask asks asked sell sells sold throw threw"
)
# After "his" these make it a noun phrase's head ("hers"); the rest can start one ("his down payment").
HERS_MARKERS = OBJECT_MARKERS - PARTICLE_NOUNS - _words("like down up out off over can may must all")

_TOKEN = re.compile(r"\w+|\s+|.", re.DOTALL)  # a word is a whole run of letters, digits and underscores
_END, _COMMA, _NUMBER = "", ",", "#"  # lookahead items besides words


def _swap_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for a, b in GENDER_PAIRS:
        table.setdefault(a, b)
        table.setdefault(b, a)
    table.update(his="her", him="her", hers="his")  # "her" and an independent "his" are read in context
    for a, b in NAME_PAIRS:
        table[a.lower()] = b.lower()
        table[b.lower()] = a.lower()
    return table


SWAPS = _swap_table()
_NAMES = frozenset(n.lower() for pair in NAME_PAIRS for n in pair)


def _match_case(template: str, word: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[0].isupper():
        return word[0].upper() + word[1:]
    return word


def _is_word(token: str) -> bool:
    return token[0].isalnum() or token[0] == "_"


def _previous_word(tokens: list[str], i: int) -> str | None:
    """The word before token i, lower-cased, if only spaces separate them; else None."""
    j = i - 1
    while j >= 0 and tokens[j].isspace():
        j -= 1
    return tokens[j].lower() if j >= 0 and tokens[j].isalpha() else None


def _items_after(tokens: list[str], i: int, limit: int = 8) -> list[str]:
    """Up to ``limit`` items after token i: words (as written, a hyphenated compound as one), _NUMBER,
    _COMMA, and a final _END at any other punctuation or the end of the text."""
    items: list[str] = []
    j = i + 1
    while len(items) < limit:
        while j < len(tokens) and tokens[j].isspace():
            j += 1
        if j >= len(tokens) or not (_is_word(tokens[j]) or tokens[j] == ","):
            return [*items, _END]
        tok = tokens[j]
        if tok == ",":
            items.append(_COMMA)
        elif tok.isdigit():
            items.append(_NUMBER)
        else:
            while j + 2 < len(tokens) and tokens[j + 1] == "-" and _is_word(tokens[j + 2]):
                tok, j = f"{tok}-{tokens[j + 2]}", j + 2
            items.append(tok)
        j += 1
    return items


def _is_modifier(word: str) -> bool:
    """An adjective, degree adverb or quantifier: something a noun phrase can start with."""
    w = word.lower()
    if w in ADJECTIVES or w in DEGREE_ADVERBS or w in QUANTIFIERS or w == _NUMBER:
        return True
    if w in NOT_ADJECTIVES or w in OBJECT_MARKERS or not w.isalpha():
        return False
    suffixed = w.endswith(("ous", "ful")) or (len(w) > 5 and w.endswith("less")) or w.endswith("ly")
    return suffixed or (len(w) > 4 and w.endswith("ed") and not w.endswith("eed"))


def _her_is_possessive(her: str, prev: str | None, items: list[str]) -> bool:
    """Whether "her" (as written) is a possessive determiner, read from the items after it and the
    word before it (rules 1-9 of the module docstring)."""
    first = items[0]
    w = first.lower()
    if first in (_END, _COMMA):  # 1
        return False
    if w in POSSESSED or "-" in w:  # 2
        return True
    if w in _NAMES or (her.islower() and first[0].isupper() and not first.isupper() and w not in TITLES):  # 3
        return False
    if w in PARTICLE_NOUNS:  # 4: "brought her back" (a verb before it) but "on her back", "her home."
        return prev is None or prev in OBJECT_MARKERS
    if w in OBJECT_MARKERS:  # 5
        return False
    if prev in CAUSATIVE_VERBS and w in BARE_VERBS:  # 6
        return False
    if w in TIME_ADVERBS and items[1].lower() in TIME_ADVERBS[w]:  # 7
        return False
    if (w in QUANTIFIERS or w == _NUMBER or w == "every") and prev in DITRANSITIVE_VERBS:  # 8
        return False
    k = 0  # 9
    while k < len(items) and _is_modifier(items[k]):
        k += 1
        if k + 1 < len(items) and items[k].lower() in (_COMMA, "and", "or", "but") and _is_modifier(items[k + 1]):
            k += 1
    if k == 0 or k == len(items):
        return True
    after = items[k].lower()
    return not (
        after in (_END, _COMMA) or after == "every" or (after in OBJECT_MARKERS and after not in PARTICLE_NOUNS)
    )


def _swap_her_or_his(tokens: list[str], i: int) -> str:
    """The swap of "her" or "his" (token i), read in context, in lower case."""
    if tokens[i].lower() == "her":
        return "his" if _her_is_possessive(tokens[i], _previous_word(tokens, i), _items_after(tokens, i)) else "him"
    nxt = _items_after(tokens, i, limit=1)[0].lower()
    return "hers" if nxt in (_END, _COMMA) or nxt in HERS_MARKERS else "her"


def gender_swap(text: str) -> str:
    """Swap every gendered word and paired first name in ``text`` for its counterpart."""
    tokens = _TOKEN.findall(text)
    out = []
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if low in ("her", "his"):
            out.append(_match_case(tok, _swap_her_or_his(tokens, i)))
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
