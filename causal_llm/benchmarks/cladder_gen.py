"""CLadder-style questions generated with exact answers, written in CLadder's release format.

CLadder (Jin et al. 2023, "CLadder: Assessing Causal Reasoning in Language Models", NeurIPS; data and
code: causalNLP/cladder) asks yes/no questions about Bayesian networks over binary variables, on all
three rungs of Pearl's ladder. This module draws such networks, states the numbers a question needs
in words, and answers it by exact inference.

Graph families (role-named nodes X treatment, Y outcome, V1/V2/V3 others), copied from the released
code (``causalbenchmark/graphs/stories/phenomena.py``; parents listed in its order):
chain X->V2->Y; fork X->Y<-V2; collision X->V3<-Y; confounding V1->X, V1->Y, X->Y; mediation
X->V2->Y, X->Y; IV V1->X, V2->X, V1->Y, X->Y (V1 unobserved, V2 the instrument); arrowhead X->V3,
V2->V3, X->Y, V2->Y, V3->Y; diamond X->V2->Y, X->V3->Y; diamondcut V1->V3, V1->X, X->Y, V3->Y;
frontdoor V1->X, V1->Y, X->V3->Y (V1 unobserved).

Query types (CLadder's codes and phrasings): rung 1 ``marginal``, ``correlation``, ``exp_away``;
rung 2 ``ate``, ``backadj``, ``collider_bias``; rung 3 ``ett``, ``nde``, ``nie``,
``det-counterfactual``. As in CLadder every query is asked twice, in the positive and the negative
phrasing ("increase"/"decrease", "more"/"less likely", Method 1 and 2 swapped), so answers are
exactly half yes. Estimands: ATE by backdoor adjustment for V1 (confounding), V3 (diamondcut) or
nothing (X a root), by the frontdoor formula, or by the Wald ratio (IV); ETT by backdoor adjustment
weighted by P(z | X=1), the frontdoor ETT formula sum_m [P(m | X=1) - P(m | X=0)] P(Y=1 | X=1, m),
or the Wald ratio; NDE and NIE by Pearl's mediation formula (frontdoor NIE = its ATE); ``backadj``
by the backdoor criterion (no descendant of X, d-separation of X and Y once X's outgoing edges are
cut, ``networkx.is_d_separator``). ``det-counterfactual`` questions come from a separate
deterministic model per network (each non-root is an AND/OR of its parents' literals, roots observed).

Output (``write_cladder``), as the release: ``<stem>.json``, an array of ``{question_id, desc_id,
given_info, question, answer, meta, reasoning}`` with ``meta`` holding CLadder's keys (rung,
query_type, graph_id, story_id, model_id, polarity, groundtruth, formal_form, given_info, estimand)
plus ``variant``, ``generator_version``, ``estimand_value`` (the exact value; None for ``backadj``)
and ``stated_estimate`` (the estimand from the stated numbers); and ``<stem>-meta-models.json``, an
array of ``{model_id, story_id, graph_id, variant, background, variable_mapping, structure, params,
...}``.

Numbers. CPT entries are whole percents in [5, 95] and every edge moves its child by at least
``MIN_EDGE_EFFECT`` on average, so invalid adjustment sets and explaining away show. The text states
each needed probability as a whole percent; the answer is computed from those stated numbers. Where
they are CPT entries they are exact; where they are derived (e.g. P(Y | V2) with V1 unobserved) they
are rounded, and a question is kept only if the estimand from the stated numbers and the exact
estimand have the same sign and both clear ``CLadderGenConfig.margin`` (default 0.01; also applied
to P(Y=1) - 0.5 for ``marginal``), so labels are never knife-edge. A network is redrawn (up to
``MAX_DRAWS`` times) until every applicable query clears the margin.

Cross-check: every stated term is recomputed with pgmpy (VariableElimination) and must agree to
1e-9; the exact estimand must equal the quantity asked about to 1e-9: pgmpy VariableElimination for
rung 1, pgmpy ``CausalInference`` do-queries (and adjustment with the chosen sets) for rung 2. Rung 3
has two independent paths, each of which must agree: our ``causal_llm.scm.SCM``
(abduction-action-prediction over its threshold response types, enumerated in our code), and a twin
network run by pgmpy's VariableElimination (``twin_network``: one world per intervention, shared
response-function variables drawn independently per parent state, so a different coupling and a
different engine). ETT, NDE, NIE and the ``det-counterfactual`` answers (from direct evaluation of the
equations) are each recomputed both ways. Any disagreement raises ``CLadderCrossCheckError``.

Deviations from CLadder, on purpose: (1) arrowhead's V2 is observed (CLadder hides it, which leaves
NDE and NIE unidentified); (2) in IV, P(Y=1 | V1, X) is additive in V1 and X (no effect
heterogeneity) - the condition under which the Wald ratio is the ATE and the ETT of a binary model;
(3) anti-commonsense stories swap the names of X and Y (of X and V3 in collision, where X does not
cause Y), so the stated causal direction contradicts common sense, where CLadder swaps in an
unrelated variable; (4) ``reasoning`` keeps CLadder's step0..step5/end object.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import networkx as nx
import numpy as np

from causal_llm.corpus import write_json
from causal_llm.scm import SCM, bernoulli

GENERATOR_VERSION = "1"
VARIANTS = ("commonsense", "anticommonsense", "nonsense")
RUNGS = {
    "marginal": 1,
    "correlation": 1,
    "exp_away": 1,
    "ate": 2,
    "backadj": 2,
    "collider_bias": 2,
    "ett": 3,
    "nde": 3,
    "nie": 3,
    "det-counterfactual": 3,
}
QUERY_TYPES = tuple(RUNGS)
MIN_EDGE_EFFECT = 0.1  # mean |P(child=1 | parent=1, rest) - P(child=1 | parent=0, rest)| of every edge
MIN_INSTRUMENT = 0.1  # |P(X=1 | V2=1) - P(X=1 | V2=0)| below this makes the Wald ratio explode on rounding
MAX_DRAWS = 50
TOLERANCE = 1e-9
ROLE_ORDER = ("X", "V1", "V2", "V3", "Y")  # how terms list their variables: P(Y=1 | X=1, V2=0)
BACKGROUND_PREFIX = (
    "Imagine a self-contained, hypothetical world with only the following conditions, and without any "
    "unmentioned factors or causal relationships: "
)


class CLadderCrossCheckError(RuntimeError):
    """Our exact inference and pgmpy (or the SCM) disagree: a bug, never a property of the data."""


# --- graph families --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """A CLadder graph: each node's parents, in CLadder's declaration order."""

    name: str
    parents: Mapping[str, tuple[str, ...]]
    unobserved: tuple[str, ...] = ()
    mediators: tuple[str, ...] = ()  # on the X -> ... -> Y paths: what NDE/NIE hold fixed or let move
    covariates: tuple[str, ...] = ()  # observed roots the mediation formula sums over

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(self.parents)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(parent, node) for node in self.nodes for parent in self.parents[node]]

    @property
    def observed(self) -> tuple[str, ...]:
        return tuple(n for n in self.nodes if n not in self.unobserved)

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(n for n in self.nodes if not self.parents[n])

    def graph(self) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(self.nodes)
        g.add_edges_from(self.edges)
        return g

    def structure(self) -> str:
        return ",".join(f"{a}->{b}" for a, b in self.edges)

    def children(self, node: str) -> list[str]:
        return [n for n in self.nodes if node in self.parents[n]]


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("chain", {"X": (), "V2": ("X",), "Y": ("V2",)}, mediators=("V2",)),
        Family("fork", {"X": (), "V2": (), "Y": ("X", "V2")}),
        Family("collision", {"X": (), "Y": (), "V3": ("X", "Y")}),
        Family("confounding", {"V1": (), "X": ("V1",), "Y": ("V1", "X")}),
        Family("mediation", {"X": (), "V2": ("X",), "Y": ("X", "V2")}, mediators=("V2",)),
        Family("IV", {"V1": (), "V2": (), "X": ("V1", "V2"), "Y": ("V1", "X")}, unobserved=("V1",)),
        Family(
            "arrowhead",
            {"X": (), "V2": (), "V3": ("X", "V2"), "Y": ("X", "V2", "V3")},
            mediators=("V3",),
            covariates=("V2",),
        ),
        Family("diamond", {"X": (), "V2": ("X",), "V3": ("X",), "Y": ("V2", "V3")}, mediators=("V2", "V3")),
        Family("diamondcut", {"V1": (), "X": ("V1",), "V3": ("V1",), "Y": ("X", "V3")}),
        Family("frontdoor", {"V1": (), "X": ("V1",), "V3": ("X",), "Y": ("V1", "V3")}, ("V1",), ("V3",)),
    )
}
FAMILY_NAMES = tuple(FAMILIES)
BACKDOOR_SET = {"confounding": "V1", "diamondcut": "V3"}  # the adjustment variable of the ATE/ETT estimands


def is_backdoor_set(family: Family, adjustment: Collection[str], treatment: str = "X", outcome: str = "Y") -> bool:
    """Pearl's backdoor criterion: no descendant of the treatment, and the treatment and outcome are
    d-separated by the set once the treatment's outgoing edges are removed."""
    g = family.graph()
    z = set(adjustment)
    if z & (nx.descendants(g, treatment) | {treatment, outcome}):
        return False
    g.remove_edges_from(list(g.out_edges(treatment)))
    return nx.is_d_separator(g, {treatment}, {outcome}, z)


def candidate_adjustment_sets(family: Family) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """(valid, invalid) subsets of the observed non-treatment, non-outcome variables."""
    others = [n for n in family.observed if n not in ("X", "Y")]
    subsets = [s for k in range(len(others) + 1) for s in itertools.combinations(others, k)]
    valid = [s for s in subsets if is_backdoor_set(family, s)]
    return valid, [s for s in subsets if s not in valid]


def applicable(family: Family, query_type: str) -> bool:
    """Whether a query type has a non-trivial answer in this graph (as in CLadder's question mix)."""
    g = family.graph()
    causes = nx.has_path(g, "X", "Y")
    if query_type in ("marginal", "det-counterfactual"):
        return True
    if query_type == "correlation":
        return not nx.is_d_separator(g, {"X"}, {"Y"}, set())
    if query_type in ("exp_away", "collider_bias"):  # X and Y independent causes of the collider V3
        return not causes and g.has_edge("X", "V3") and g.has_edge("Y", "V3")
    if query_type in ("ate", "ett"):
        return causes
    if query_type == "backadj":
        valid, invalid = candidate_adjustment_sets(family)
        return bool(valid and invalid)
    if query_type == "nde":
        return bool(family.mediators) and g.has_edge("X", "Y")
    if query_type == "nie":
        return bool(family.mediators)
    raise KeyError(f"unknown query type '{query_type}'")


# --- stories ---------------------------------------------------------------------------------------


class Var(NamedTuple):
    """A variable in words: its name, and noun phrases for its values 1 and 0 (they follow "those
    with ...", "the probability of ..." and "Will ... increase the chance of ...")."""

    name: str
    one: str
    zero: str

    def noun(self, value: int) -> str:
        return self.one if value else self.zero


@dataclass(frozen=True)
class Story:
    story_id: str
    families: tuple[str, ...]
    variables: Mapping[str, Var]


def _story(story_id: str, families: tuple[str, ...], **variables: tuple[str, str, str]) -> Story:
    return Story(story_id, families, {role: Var(*words) for role, words in variables.items()})


STORIES: tuple[Story, ...] = (
    _story(
        "smoking_tar_cancer",
        ("chain", "mediation"),
        X=("smoking", "a smoking habit", "no smoking habit"),
        V2=("tar deposit", "a high tar deposit", "a low tar deposit"),
        Y=("lung cancer", "lung cancer", "no lung cancer"),
    ),
    _story(
        "rain_road_accident",
        ("chain", "mediation"),
        X=("rainfall", "heavy rain", "no rain"),
        V2=("road condition", "a slippery road", "a dry road"),
        Y=("car accidents", "a car accident", "no car accident"),
    ),
    _story(
        "study_knowledge_exam",
        ("chain", "mediation"),
        X=("study time", "long study hours", "short study hours"),
        V2=("subject knowledge", "good subject knowledge", "poor subject knowledge"),
        Y=("exam result", "a high exam score", "a low exam score"),
    ),
    _story(
        "encouragement_studying",
        ("mediation",),
        X=("parental encouragement", "encouraging parents", "indifferent parents"),
        V2=("studying habit", "diligent studying", "little studying"),
        Y=("exam result", "a high exam score", "a low exam score"),
    ),
    _story(
        "training_skills_salary",
        ("chain", "mediation"),
        X=("job training", "participation in job training", "no job training"),
        V2=("work skills", "strong work skills", "weak work skills"),
        Y=("salary", "a high salary", "a low salary"),
    ),
    _story(
        "heater_window_room",
        ("fork",),
        X=("the heater", "the heater switched on", "the heater switched off"),
        V2=("the window", "a closed window", "an open window"),
        Y=("room temperature", "a warm room", "a cold room"),
    ),
    _story(
        "fertilizer_rain_harvest",
        ("fork",),
        X=("fertilizer", "fertilized soil", "unfertilized soil"),
        V2=("rainfall", "plenty of rain", "little rain"),
        Y=("harvest", "a large harvest", "a small harvest"),
    ),
    _story(
        "diet_exercise_weight",
        ("fork",),
        X=("diet", "a healthy diet", "an unhealthy diet"),
        V2=("exercise", "regular exercise", "no exercise"),
        Y=("body weight", "a healthy weight", "an unhealthy weight"),
    ),
    _story(
        "talent_effort_admission",
        ("collision",),
        X=("talent", "high talent", "low talent"),
        Y=("effort", "hard work", "little effort"),
        V3=("elite admission", "admission to an elite school", "rejection by an elite school"),
    ),
    _story(
        "acting_looks_fame",
        ("collision",),
        X=("acting skill", "great acting skill", "poor acting skill"),
        Y=("appearance", "an attractive appearance", "a plain appearance"),
        V3=("fame", "fame", "obscurity"),
    ),
    _story(
        "flu_allergy_sneezing",
        ("collision",),
        X=("flu", "a flu infection", "no flu infection"),
        Y=("pollen allergy", "a pollen allergy", "no pollen allergy"),
        V3=("sneezing", "frequent sneezing", "no sneezing"),
    ),
    _story(
        "age_exercise_heart",
        ("confounding",),
        V1=("age", "old age", "young age"),
        X=("exercise", "regular exercise", "no regular exercise"),
        Y=("heart disease", "heart disease", "a healthy heart"),
    ),
    _story(
        "income_tutoring_admission",
        ("confounding",),
        V1=("family income", "a high family income", "a low family income"),
        X=("private tutoring", "private tutoring", "no private tutoring"),
        Y=("university admission", "university admission", "university rejection"),
    ),
    _story(
        "weather_sunscreen_sunburn",
        ("confounding",),
        V1=("weather", "sunny weather", "cloudy weather"),
        X=("sunscreen", "sunscreen use", "no sunscreen use"),
        Y=("sunburn", "a sunburn", "no sunburn"),
    ),
    _story(
        "college_proximity_salary",
        ("IV",),
        V1=("ability", "high ability", "low ability"),
        V2=("distance to a college", "a college nearby", "no college nearby"),
        X=("education", "a college degree", "no college degree"),
        Y=("salary", "a high salary", "a low salary"),
    ),
    _story(
        "cigarette_tax_lungs",
        ("IV",),
        V1=("genetic predisposition", "a risky gene variant", "no risky gene variant"),
        V2=("cigarette tax", "a high cigarette tax", "a low cigarette tax"),
        X=("smoking", "a smoking habit", "no smoking habit"),
        Y=("lung health", "poor lung health", "good lung health"),
    ),
    _story(
        "reminder_vaccine_flu",
        ("IV",),
        V1=("health consciousness", "high health consciousness", "low health consciousness"),
        V2=("reminder letter", "a vaccination reminder", "no vaccination reminder"),
        X=("vaccination", "a flu vaccination", "no flu vaccination"),
        Y=("flu", "a flu infection", "no flu infection"),
    ),
    _story(
        "smoking_birth_weight",
        ("arrowhead",),
        X=("maternal smoking", "a smoking mother", "a nonsmoking mother"),
        V2=("health condition", "a poor health condition", "a good health condition"),
        V3=("birth weight", "a low birth weight", "a normal birth weight"),
        Y=("infant mortality", "infant death", "infant survival"),
    ),
    _story(
        "training_motivation_salary",
        ("arrowhead",),
        X=("training program", "a training program", "no training program"),
        V2=("motivation", "high motivation", "low motivation"),
        V3=("skills", "strong skills", "weak skills"),
        Y=("salary", "a high salary", "a low salary"),
    ),
    _story(
        "firing_squad",
        ("diamond",),
        X=("the captain", "an execution order", "a release order"),
        V2=("the corporal", "the corporal shooting", "the corporal not shooting"),
        V3=("the private", "the private shooting", "the private not shooting"),
        Y=("the prisoner", "the prisoner's death", "the prisoner's survival"),
    ),
    _story(
        "season_sprinkler_rain",
        ("diamond",),
        X=("season", "the dry season", "the wet season"),
        V2=("the sprinkler", "the sprinkler on", "the sprinkler off"),
        V3=("rain", "rain", "no rain"),
        Y=("the lawn", "a wet lawn", "a dry lawn"),
    ),
    _story(
        "firing_employee",
        ("diamondcut",),
        V1=("the CEO", "the CEO's decision to fire", "the CEO's decision to retain"),
        X=("the manager", "the manager signing the termination", "the manager refusing to sign"),
        V3=("the director", "the director signing the termination", "the director refusing to sign"),
        Y=("the employee", "the employee being fired", "the employee keeping the job"),
    ),
    _story(
        "forecast_umbrella_dry",
        ("diamondcut",),
        V1=("weather forecast", "a rain forecast", "a sunny forecast"),
        X=("umbrella", "carrying an umbrella", "no umbrella"),
        V3=("raincoat", "wearing a raincoat", "no raincoat"),
        Y=("staying dry", "staying dry", "getting wet"),
    ),
    _story(
        "genotype_smoking_tar",
        ("frontdoor",),
        V1=("genotype", "a risky genotype", "a safe genotype"),
        X=("smoking", "a smoking habit", "no smoking habit"),
        V3=("tar deposit", "a high tar deposit", "a low tar deposit"),
        Y=("lung cancer", "lung cancer", "no lung cancer"),
    ),
    _story(
        "motivation_tutoring_homework",
        ("frontdoor",),
        V1=("motivation", "high motivation", "low motivation"),
        X=("tutoring", "after-school tutoring", "no tutoring"),
        V3=("homework", "completed homework", "missed homework"),
        Y=("exam result", "a high exam score", "a low exam score"),
    ),
    _story(
        "status_gym_fitness",
        ("frontdoor",),
        V1=("socioeconomic status", "a high socioeconomic status", "a low socioeconomic status"),
        X=("gym membership", "a gym membership", "no gym membership"),
        V3=("workouts", "frequent workouts", "rare workouts"),
        Y=("fitness", "good fitness", "poor fitness"),
    ),
)

NONSENSE_STREAM = 1000  # a seed-sequence tag no family index reaches: the words do not depend on the family
_CONSONANTS = tuple("bcdfghjklmnpqrstvwxz")
_VOWELS = tuple("aeiou")
_PATTERNS = ("CVCV", "CCVC", "CVCC")


def nonsense_words(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct made-up four-letter words ("xevo", "kwox") from consonant/vowel patterns."""
    words: list[str] = []
    while len(words) < n:
        pattern = _PATTERNS[int(rng.integers(len(_PATTERNS)))]
        word = "".join(str(rng.choice(_CONSONANTS if c == "C" else _VOWELS)) for c in pattern)
        if word not in words:
            words.append(word)
    return words


def story_variables(family: Family, variant: str, k: int, seed: int) -> tuple[str, dict[str, Var]]:
    """(story_id, role -> Var) for the k-th model of a family: stories are taken in turn (the seed
    picks where to start); nonsense story k has the same words in every family, as in CLadder."""
    if variant == "nonsense":
        words = nonsense_words(np.random.default_rng([seed, NONSENSE_STREAM, k]), len(ROLE_ORDER))
        named = {role: Var(w, w, f"no {w}") for role, w in zip(ROLE_ORDER, words, strict=True)}
        return f"nonsense{k}", {n: named[n] for n in family.nodes}
    pool = [s for s in STORIES if family.name in s.families]
    story = pool[(seed + k) % len(pool)]
    variables = {n: story.variables[n] for n in family.nodes}
    if variant == "anticommonsense":
        a, b = ("X", "Y") if nx.has_path(family.graph(), "X", "Y") else ("X", "V3")
        variables[a], variables[b] = variables[b], variables[a]
    return story.story_id, variables


# --- networks and exact inference ----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BinaryBN:
    """A Bayesian network of one family: ``cpts[node][parent states] = P(node=1 | parents)``."""

    family: str
    cpts: Mapping[str, Mapping[tuple[int, ...], float]]

    def __post_init__(self) -> None:
        fam = FAMILIES[self.family]
        if set(self.cpts) != set(fam.nodes):
            raise ValueError(f"a {self.family} network needs CPTs for {fam.nodes}, got {sorted(self.cpts)}")
        for node, table in self.cpts.items():
            configs = set(itertools.product((0, 1), repeat=len(fam.parents[node])))
            if set(table) != configs:
                raise ValueError(f"CPT of {node} must have one entry per state of {fam.parents[node]}")
            if not all(0.0 <= p <= 1.0 for p in table.values()):
                raise ValueError(f"CPT of {node} has a probability outside [0, 1]")

    @property
    def fam(self) -> Family:
        return FAMILIES[self.family]

    def p_one(self, node: str, assignment: Mapping[str, int]) -> float:
        return self.cpts[node][tuple(assignment[p] for p in self.fam.parents[node])]

    @functools.cached_property
    def joint(self) -> list[tuple[dict[str, int], float]]:
        return _factorize(self, {})

    def params(self) -> dict[str, Any]:
        """CLadder's ``params``: "p(Y | X, V2)" -> nested lists of P(Y=1 | ...) indexed by parent state."""
        out: dict[str, Any] = {}
        for node in self.fam.nodes:
            parents = self.fam.parents[node]
            key = f"p({node} | {', '.join(parents)})" if parents else f"p({node})"
            table = np.zeros((2,) * len(parents))
            for config, p in self.cpts[node].items():
                table[config] = p
            out[key] = table.tolist() if parents else float(table)
        return out


def _factorize(model: BinaryBN, do: Mapping[str, int]) -> list[tuple[dict[str, int], float]]:
    """Every joint state with its probability; intervened nodes lose their CPT (truncated factorisation)."""
    nodes = model.fam.nodes
    out = []
    for values in itertools.product((0, 1), repeat=len(nodes)):
        a = dict(zip(nodes, values, strict=True))
        if any(a[n] != v for n, v in do.items()):
            continue
        p = 1.0
        for n in nodes:
            if n not in do:
                p1 = model.p_one(n, a)
                p *= p1 if a[n] else 1.0 - p1
        out.append((a, p))
    return out


def probability(model: BinaryBN, event: Mapping[str, int], given: Mapping[str, int] | None = None) -> float:
    """P(event | given) by summing the joint table."""
    given = given or {}
    num = den = 0.0
    for a, p in model.joint:
        if all(a[k] == v for k, v in given.items()):
            den += p
            if all(a[k] == v for k, v in event.items()):
                num += p
    if den == 0.0:
        raise ValueError(f"conditioning on {dict(given)}, which has probability zero")
    return num / den


def do_probability(model: BinaryBN, event: Mapping[str, int], do: Mapping[str, int]) -> float:
    """P(event | do(...)) by the truncated factorisation."""
    return sum(p for a, p in _factorize(model, do) if all(a[k] == v for k, v in event.items()))


def adjusted_probability(model: BinaryBN, adjustment: Sequence[str], x: int) -> float:
    """sum_z P(Y=1 | X=x, z) P(z): what adjusting for ``adjustment`` estimates P(Y=1 | do(X=x)) as."""
    total = 0.0
    for values in itertools.product((0, 1), repeat=len(adjustment)):
        z = dict(zip(adjustment, values, strict=True))
        total += probability(model, {"Y": 1}, {"X": x, **z}) * probability(model, z)
    return total


def _draw_cpt(rng: np.random.Generator, n_parents: int) -> dict[tuple[int, ...], float]:
    configs = list(itertools.product((0, 1), repeat=n_parents))
    while True:
        table = {c: int(pct) / 100 for c, pct in zip(configs, rng.integers(5, 96, size=len(configs)), strict=True)}
        if all(_edge_effect(table, i) >= MIN_EDGE_EFFECT for i in range(n_parents)):
            return table


def _edge_effect(table: Mapping[tuple[int, ...], float], i: int) -> float:
    pairs = [(c, (*c[:i], 1, *c[i + 1 :])) for c in table if c[i] == 0]
    return float(np.mean([abs(table[on] - table[off]) for off, on in pairs]))


def _additive_cpt(rng: np.random.Generator) -> dict[tuple[int, ...], float]:
    """P(Y=1 | V1=v, X=x) = a + b x + c v: the same effect of X for every V1, so the Wald ratio is the ATE."""
    b, c = (int(rng.integers(10, 41)) * (1 if rng.random() < 0.5 else -1) for _ in range(2))
    a = int(rng.integers(5 - min(0, b) - min(0, c), 96 - max(0, b) - max(0, c)))
    return {(v, x): (a + b * x + c * v) / 100 for v in (0, 1) for x in (0, 1)}


def draw_model(family: str, rng: np.random.Generator) -> BinaryBN:
    fam = FAMILIES[family]
    cpts = {
        n: _additive_cpt(rng) if (family, n) == ("IV", "Y") else _draw_cpt(rng, len(fam.parents[n])) for n in fam.nodes
    }
    return BinaryBN(family, cpts)


# --- estimands -------------------------------------------------------------------------------------


class Term(NamedTuple):
    """A stated probability P(event | given); variables in ``ROLE_ORDER``."""

    event: tuple[tuple[str, int], ...]
    given: tuple[tuple[str, int], ...] = ()

    @staticmethod
    def of(event: Mapping[str, int], given: Mapping[str, int] | None = None) -> Term:
        def order(items: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
            return tuple(sorted(items.items(), key=lambda kv: ROLE_ORDER.index(kv[0])))

        return Term(order(event), order(given or {}))

    @property
    def label(self) -> str:
        event = ", ".join(f"{k}={v}" for k, v in self.event)
        given = ", ".join(f"{k}={v}" for k, v in self.given)
        return f"P({event} | {given})" if given else f"P({event})"


class Lookup:
    """Reads the stated terms: ``q("Y", 0, X=1)`` = 1 - P(Y=1 | X=1); ``q.joint(X=1, Y=1)``."""

    def __init__(self, values: Mapping[Term, float]) -> None:
        self.values = values

    def __call__(self, var: str, value: int = 1, **given: int) -> float:
        p = self.values[Term.of({var: 1}, given)]
        return p if value else 1.0 - p

    def joint(self, **event: int) -> float:
        return self.values[Term.of(event)]


@dataclass(frozen=True)
class Estimand:
    formal_form: str  # the query in CLadder's notation
    formula: str  # what it equals in terms of the stated numbers
    terms: tuple[Term, ...]
    compute: Callable[[Lookup], float]
    threshold: float = 0.0  # the answer compares the value with this (0.5 for "more likely than not")
    denominator: Callable[[Lookup], float] | None = None  # Wald: must stay away from zero


def _t(var: str, value: int = 1, **given: int) -> Term:
    return Term.of({var: value}, given)


def _cpt_terms(fam: Family, node: str) -> tuple[Term, ...]:
    parents = fam.parents[node]
    return tuple(_t(node, **dict(zip(parents, c, strict=True))) for c in itertools.product((0, 1), repeat=len(parents)))


def _wald() -> Estimand:
    terms = (_t("X", V2=0), _t("X", V2=1), _t("Y", V2=0), _t("Y", V2=1))
    return Estimand(
        "",
        "[P(Y=1 | V2=1) - P(Y=1 | V2=0)] / [P(X=1 | V2=1) - P(X=1 | V2=0)]",
        terms,
        lambda q: (q("Y", V2=1) - q("Y", V2=0)) / (q("X", V2=1) - q("X", V2=0)),
        denominator=lambda q: q("X", V2=1) - q("X", V2=0),
    )


def _frontdoor_ate(formal_form: str) -> Estimand:
    terms = (_t("X"), _t("V3", X=0), _t("V3", X=1)) + tuple(_t("Y", X=x, V3=m) for x in (0, 1) for m in (0, 1))
    return Estimand(
        formal_form,
        "\\sum_{V3=m} [P(V3=m | X=1) - P(V3=m | X=0)] * \\sum_{X=x} P(X=x) * P(Y=1 | X=x, V3=m)",
        terms,
        lambda q: sum(
            (q("V3", m, X=1) - q("V3", m, X=0)) * sum(q("X", x) * q("Y", X=x, V3=m) for x in (0, 1)) for m in (0, 1)
        ),
    )


def natural_form(fam: Family, kind: str) -> str:
    """NDE/NIE in CLadder-style counterfactual notation."""
    meds = ", ".join(fam.mediators)
    if kind == "nde":
        return f"E[Y_{{X=1, {meds}={meds}_{{X=0}}}} - Y_{{X=0}}]"
    return f"E[Y_{{X=0, {meds}={meds}_{{X=1}}}} - Y_{{X=0}}]"


def _mediation(fam: Family, kind: str) -> Estimand:
    """Pearl's mediation formula over mediators M and covariates W (all observed, CPT terms):
    E[Y_{x, M_{x'}}] = sum_{w, m} P(w) P(m | x', w) P(Y=1 | x, m, w)."""
    w_nodes, m_nodes = fam.covariates, fam.mediators
    terms = tuple(t for n in (*w_nodes, *m_nodes, "Y") for t in _cpt_terms(fam, n))

    def natural(q: Lookup, x_y: int, x_m: int) -> float:
        total = 0.0
        for w in itertools.product((0, 1), repeat=len(w_nodes)):
            for m in itertools.product((0, 1), repeat=len(m_nodes)):
                a = dict(zip(w_nodes + m_nodes, w + m, strict=True))
                weight = math.prod(q(n, a[n]) for n in w_nodes)
                weight *= math.prod(q(n, a[n], **{p: {**a, "X": x_m}[p] for p in fam.parents[n]}) for n in m_nodes)
                total += weight * q("Y", **{p: {**a, "X": x_y}[p] for p in fam.parents["Y"]})
        return total

    def cond(node: str, x: int | None) -> str:
        lhs = "Y=1" if node == "Y" else f"{node}={node.lower()}"
        given = ", ".join(f"X={x}" if p == "X" else f"{p}={p.lower()}" for p in fam.parents[node])
        return f"P({lhs} | {given})" if given else f"P({lhs})"

    index = ", ".join(f"{n}={n.lower()}" for n in (*w_nodes, *m_nodes))
    prefix = "".join(f"{cond(w, None)} * " for w in w_nodes)

    def moved(x: int) -> str:
        return " * ".join(cond(m, x) for m in m_nodes)

    if kind == "nde":  # E[Y_{1, M_0}] - E[Y_{0, M_0}]
        x_y, x_m, body = 1, 0, f"{moved(0)} * [{cond('Y', 1)} - {cond('Y', 0)}]"
    else:  # E[Y_{0, M_1}] - E[Y_{0, M_0}]
        x_y, x_m, body = 0, 1, f"[{moved(1)} - {moved(0)}] * {cond('Y', 0)}"
    formula = f"\\sum_{{{index}}} {prefix}{body}"
    return Estimand(natural_form(fam, kind), formula, terms, lambda q: natural(q, x_y, x_m) - natural(q, 0, 0))


ATE_FORM = "E[Y | do(X = 1)] - E[Y | do(X = 0)]"
ETT_FORM = "E[Y_{X = 1} - Y_{X = 0} | X = 1]"


def estimand_for(family: str, query_type: str) -> Estimand:
    """The estimand of a numeric query type in a family, in terms of probabilities the text states."""
    fam = FAMILIES[family]
    z = BACKDOOR_SET.get(family)
    if query_type == "marginal":
        if not fam.parents["Y"]:
            return Estimand("P(Y)", "P(Y=1)", (_t("Y"),), lambda q: q("Y"), threshold=0.5)
        return Estimand(
            "P(Y)",
            "P(Y=1 | X=1) * P(X=1) + P(Y=1 | X=0) * P(X=0)",
            (_t("X"), _t("Y", X=0), _t("Y", X=1)),
            lambda q: sum(q("X", x) * q("Y", X=x) for x in (0, 1)),
            threshold=0.5,
        )
    if query_type == "correlation":
        return Estimand(
            "P(Y | X)",
            "P(X=1, Y=1) / P(X=1) - P(X=0, Y=1) / P(X=0)",
            (_t("X"), Term.of({"X": 0, "Y": 1}), Term.of({"X": 1, "Y": 1})),
            lambda q: q.joint(X=1, Y=1) / q("X") - q.joint(X=0, Y=1) / q("X", 0),
        )
    if query_type == "exp_away":

        def posterior(q: Lookup, x: int) -> float:
            return q("Y") * q("V3", X=x, Y=1) / sum(q("Y", y) * q("V3", X=x, Y=y) for y in (0, 1))

        return Estimand(
            "P(Y = 1 | X = 1, V3 = 1) - P(Y = 1 | X = 0, V3 = 1)",
            "P(Y=1 | X=x, V3=1) = P(Y=1) * P(V3=1 | X=x, Y=1) / \\sum_{Y=y} P(Y=y) * P(V3=1 | X=x, Y=y)",
            (_t("Y"), *_cpt_terms(fam, "V3")),
            lambda q: posterior(q, 1) - posterior(q, 0),
        )
    if query_type in ("ate", "ett") and family == "IV":
        return replace(_wald(), formal_form=ATE_FORM if query_type == "ate" else ETT_FORM)
    if query_type in ("ate", "nie") and family == "frontdoor":  # no X -> Y edge: NIE through V3 is the ATE
        return _frontdoor_ate(ATE_FORM if query_type == "ate" else natural_form(fam, "nie"))
    if query_type == "ett" and family == "frontdoor":
        terms = (_t("V3", X=0), _t("V3", X=1)) + tuple(_t("Y", X=x, V3=m) for x in (0, 1) for m in (0, 1))
        return Estimand(
            ETT_FORM,
            "\\sum_{V3=m} [P(V3=m | X=1) - P(V3=m | X=0)] * P(Y=1 | X=1, V3=m)",
            terms,
            lambda q: sum((q("V3", m, X=1) - q("V3", m, X=0)) * q("Y", X=1, V3=m) for m in (0, 1)),
        )
    if query_type in ("ate", "ett") and z is None:
        return Estimand(
            ATE_FORM if query_type == "ate" else ETT_FORM,
            "P(Y=1 | X=1) - P(Y=1 | X=0)",
            (_t("Y", X=0), _t("Y", X=1)),
            lambda q: q("Y", X=1) - q("Y", X=0),
        )
    if query_type in ("ate", "ett") and z is not None:
        y_terms = tuple(_t("Y", **{"X": x, z: v}) for x in (0, 1) for v in (0, 1))
        if query_type == "ate":
            return Estimand(
                ATE_FORM,
                f"\\sum_{{{z}=v}} P({z}=v) * [P(Y=1 | X=1, {z}=v) - P(Y=1 | X=0, {z}=v)]",
                (_t(z), *y_terms),
                lambda q: sum(q(z, v) * (q("Y", **{"X": 1, z: v}) - q("Y", **{"X": 0, z: v})) for v in (0, 1)),
            )
        return Estimand(
            ETT_FORM,
            f"\\sum_{{{z}=v}} P({z}=v | X=1) * [P(Y=1 | X=1, {z}=v) - P(Y=1 | X=0, {z}=v)]",
            (_t(z, X=0), _t(z, X=1), *y_terms),
            lambda q: sum(q(z, v, X=1) * (q("Y", **{"X": 1, z: v}) - q("Y", **{"X": 0, z: v})) for v in (0, 1)),
        )
    if query_type in ("nde", "nie"):
        return _mediation(fam, query_type)
    raise KeyError(f"no numeric estimand for '{query_type}' in the {family} graph")


# --- planning: exact and stated values, margins ----------------------------------------------------


def _stated(p: float) -> float:
    """A probability as the text states it: a whole percent."""
    return round(p * 100) / 100


@dataclass
class Plan:
    """What one query type asks of one network, before it is put into words."""

    query_type: str
    estimand: Estimand | None = None
    exact_terms: dict[Term, float] = field(default_factory=dict)
    stated_terms: dict[Term, float] = field(default_factory=dict)
    exact: float = 0.0
    stated: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _clears(exact: float, stated: float, margin: float) -> bool:
    return abs(exact) >= margin and abs(stated) >= margin and exact * stated > 0


def plan_query(model: BinaryBN, query_type: str, margin: float, rng: np.random.Generator) -> Plan | None:
    """The numbers behind one query type, or None when its answer would be knife-edge."""
    fam = model.fam
    if query_type == "backadj":
        valid, invalid = candidate_adjustment_sets(fam)
        truth = [do_probability(model, {"Y": 1}, {"X": x}) for x in (0, 1)]
        # an invalid set must also be visibly wrong in this network, not only in general
        wrong = [s for s in invalid if max(abs(adjusted_probability(model, s, x) - truth[x]) for x in (0, 1)) >= margin]
        if not valid or not wrong:
            return None
        good, bad = valid[int(rng.integers(len(valid)))], wrong[int(rng.integers(len(wrong)))]
        return Plan(query_type, extra={"valid": good, "invalid": bad})
    if query_type == "collider_bias":
        exact_terms = {t: probability(model, dict(t.event), dict(t.given)) for t in _collider_terms()}
        px, py, pxy = (exact_terms[t] for t in _collider_terms())
        phi = (pxy - px * py) / math.sqrt(px * (1 - px) * py * (1 - py))
        ate = do_probability(model, {"Y": 1}, {"X": 1}) - do_probability(model, {"Y": 1}, {"X": 0})
        return Plan(query_type, None, exact_terms, {}, ate, ate, {"phi": phi})
    est = estimand_for(model.family, query_type)
    exact_terms = {t: probability(model, dict(t.event), dict(t.given)) for t in est.terms}
    stated_terms = {t: _stated(v) for t, v in exact_terms.items()}
    if est.denominator is not None and min(
        abs(est.denominator(Lookup(exact_terms))), abs(est.denominator(Lookup(stated_terms)))
    ) < max(margin, MIN_INSTRUMENT):
        return None
    exact, stated = est.compute(Lookup(exact_terms)), est.compute(Lookup(stated_terms))
    if not _clears(exact - est.threshold, stated - est.threshold, margin):
        return None
    return Plan(query_type, est, exact_terms, stated_terms, exact, stated)


def _collider_terms() -> tuple[Term, ...]:
    return (_t("X", V3=1), _t("Y", V3=1), Term.of({"X": 1, "Y": 1}, {"V3": 1}))


def accepted_model(
    family: str, query_types: Sequence[str], margin: float, rng: np.random.Generator
) -> tuple[BinaryBN, dict[str, Plan]]:
    """Draw networks until every query type clears the margin (else keep the draw that served most)."""
    best: tuple[int, BinaryBN, dict[str, Plan]] | None = None
    for _ in range(MAX_DRAWS):
        model = draw_model(family, rng)
        plans = {q: p for q in query_types if (p := plan_query(model, q, margin, rng)) is not None}
        if best is None or len(plans) > best[0]:
            best = (len(plans), model, plans)
        if len(plans) == len(query_types):
            break
    assert best is not None
    return best[1], best[2]


# --- cross-check -----------------------------------------------------------------------------------


def to_pgmpy(model: BinaryBN) -> Any:
    with warnings.catch_warnings():  # pgmpy 1.1 announces future API moves on import
        warnings.simplefilter("ignore", FutureWarning)
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.models import DiscreteBayesianNetwork

    fam = model.fam
    net = DiscreteBayesianNetwork(fam.edges)
    net.add_nodes_from(fam.nodes)
    for node in fam.nodes:
        parents = list(fam.parents[node])
        p1 = [model.cpts[node][c] for c in itertools.product((0, 1), repeat=len(parents))]
        net.add_cpds(
            TabularCPD(
                node,
                2,
                [[1.0 - p for p in p1], p1],
                evidence=parents or None,
                evidence_card=[2] * len(parents) or None,
                state_names={n: [0, 1] for n in (node, *parents)},
            )
        )
    net.check_model()
    return net


def to_scm(model: BinaryBN) -> SCM:
    fam = model.fam
    return SCM({n: bernoulli(fam.parents[n], dict(model.cpts[n])) for n in fam.nodes})


class _Oracle:
    """pgmpy's answers for one network (VariableElimination and CausalInference), cached by term."""

    def __init__(self, model: BinaryBN) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            from pgmpy.inference import CausalInference, VariableElimination

        net = to_pgmpy(model)
        self.ve, self.ci = VariableElimination(net), CausalInference(net)
        self.cache: dict[Term, float] = {}

    def prob(self, term: Term) -> float:
        if term not in self.cache:
            event = dict(term.event)
            factor = self.ve.query(list(event), evidence=dict(term.given) or None, joint=True, show_progress=False)
            self.cache[term] = float(factor.get_value(**event))
        return self.cache[term]

    def do(self, x: int, adjustment: Sequence[str] | None = None) -> float:
        adjustment_set = None if adjustment is None else set(adjustment)
        factor = self.ci.query(["Y"], do={"X": x}, adjustment_set=adjustment_set, show_progress=False)
        return float(factor.get_value(Y=1))


def _agree(what: str, ours: float, theirs: float, family: str) -> None:
    if not abs(ours - theirs) <= TOLERANCE:
        raise CLadderCrossCheckError(f"{family} network, {what}: ours {ours!r}, reference {theirs!r}")


def natural_effect_mean(scm: SCM, mediators: Sequence[str], x_y: int, x_m: int) -> float:
    """E[Y_{X=x_y, M=M_{X=x_m}}] by enumerating the SCM's response-type worlds (a nested counterfactual:
    ``SCM.counterfactual`` takes one intervention, so the two worlds are solved here)."""
    total = 0.0
    for weight, world in scm._worlds():
        m = scm._solve(world, {"X": x_m})
        total += weight * scm._solve(world, {"X": x_y, **{n: m[n] for n in mediators}})["Y"]
    return total


def _truth(model: BinaryBN, query_type: str, oracle: _Oracle, scm: SCM) -> float:
    """The quantity a query asks about, from pgmpy (rungs 1-2) or the SCM (rung 3)."""
    if query_type == "marginal":
        return oracle.prob(_t("Y"))
    if query_type == "correlation":
        return oracle.prob(_t("Y", X=1)) - oracle.prob(_t("Y", X=0))
    if query_type == "exp_away":
        return oracle.prob(_t("Y", X=1, V3=1)) - oracle.prob(_t("Y", X=0, V3=1))
    if query_type in ("ate", "collider_bias"):
        return oracle.do(1) - oracle.do(0)
    if query_type == "ett":
        return scm.counterfactual({"Y": 1}, {"X": 1}, {"X": 1}) - scm.counterfactual({"Y": 1}, {"X": 0}, {"X": 1})
    mediators = model.fam.mediators
    if query_type == "nde":
        return natural_effect_mean(scm, mediators, 1, 0) - natural_effect_mean(scm, mediators, 0, 0)
    if query_type == "nie":
        return natural_effect_mean(scm, mediators, 0, 1) - natural_effect_mean(scm, mediators, 0, 0)
    raise KeyError(query_type)


# A second, independent path for rung 3: a twin network in pgmpy. The SCM above (causal_llm.scm)
# couples a node's responses to its parent states through one uniform U (comonotone thresholds) and
# enumerates its worlds in our own code; here each node gets a response-function variable R over all
# 2^(2^k) functions of its k parents (Balke and Pearl's canonical partition), each parent state's
# response drawn independently, and pgmpy's variable elimination does the sums. ETT, NDE and NIE are
# identified in these graphs, so they cannot depend on the coupling: the two paths must agree.
TwinWorld = Mapping[str, int | str]  # node -> the value it is set to, or the world whose value it copies


def response_prior(p_one: Sequence[float]) -> np.ndarray:
    """P(R = r) over a binary node's response functions: bit j of r is its value under parent state j
    (``itertools.product`` order), and P(bit j = 1) = p_one[j], independently across states."""
    bits = (np.arange(2 ** len(p_one))[:, None] >> np.arange(len(p_one))) & 1
    return np.prod(np.where(bits == 1, np.asarray(p_one, dtype=float), 1.0 - np.asarray(p_one, dtype=float)), axis=1)


def twin_network(
    family: str, cpts: Mapping[str, Mapping[tuple[int, ...], float]], worlds: Mapping[str, TwinWorld]
) -> Any:
    """A pgmpy network with one shared ``R_<node>`` per node and one copy ``<node>@<world>`` of every
    node per world: a node set in a world is a constant, a node copied from another world equals that
    world's copy (a nested counterfactual such as M = M_{X=0}), any other follows its R."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.models import DiscreteBayesianNetwork

    fam = FAMILIES[family]
    net = DiscreteBayesianNetwork()
    binary = [0, 1]
    for node in fam.nodes:
        parents = fam.parents[node]
        configs = list(itertools.product((0, 1), repeat=len(parents)))
        prior = response_prior([cpts[node][c] for c in configs])
        r = f"R_{node}"
        net.add_node(r)
        net.add_cpds(TabularCPD(r, len(prior), prior.reshape(-1, 1), state_names={r: list(range(len(prior)))}))
        # column (r, parent state j), r slowest as pgmpy orders evidence: bit j of r
        table = np.array([(r_ >> j) & 1 for r_ in range(len(prior)) for j in range(len(configs))], dtype=float)
        for world, setting in worlds.items():
            name, value = f"{node}@{world}", setting.get(node)
            net.add_node(name)
            if isinstance(value, int):
                net.add_cpds(TabularCPD(name, 2, [[1.0 - value], [float(value)]], state_names={name: binary}))
                continue
            evidence = [f"{node}@{value}"] if isinstance(value, str) else [r, *(f"{p}@{world}" for p in parents)]
            net.add_edges_from((e, name) for e in evidence)
            values = [[1.0, 0.0], [0.0, 1.0]] if isinstance(value, str) else [1.0 - table, table]
            cards = [2] if isinstance(value, str) else [len(prior), *[2] * len(parents)]
            states = {name: binary, **{e: list(range(c)) for e, c in zip(evidence, cards, strict=True)}}
            net.add_cpds(TabularCPD(name, 2, values, evidence=evidence, evidence_card=cards, state_names=states))
    net.check_model()
    return net


class _Twin:
    """P(<node>@<world> = 1 | evidence) by pgmpy's variable elimination on one twin network."""

    def __init__(
        self, family: str, cpts: Mapping[str, Mapping[tuple[int, ...], float]], worlds: Mapping[str, TwinWorld]
    ) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            from pgmpy.inference import VariableElimination

        self.ve = VariableElimination(twin_network(family, cpts, worlds))

    def p(self, target: str, evidence: Mapping[str, int] | None = None) -> float:
        factor = self.ve.query([target], evidence=dict(evidence or {}) or None, show_progress=False)
        return float(factor.get_value(**{target: 1}))


def twin_rung3(model: BinaryBN) -> dict[str, float]:
    """ETT, NDE and NIE of a network from its twin network (the NDE/NIE only where it has mediators):
    ETT = P(Y_{X=1}=1 | X=1) - P(Y_{X=0}=1 | X=1); NDE = E[Y_{X=1, M=M_{X=0}}] - E[Y_{X=0}];
    NIE = E[Y_{X=0, M=M_{X=1}}] - E[Y_{X=0}]."""
    meds = model.fam.mediators
    worlds: dict[str, TwinWorld] = {"f": {}, "x0": {"X": 0}, "x1": {"X": 1}}
    if meds:
        worlds["nde"] = {"X": 1, **{m: "x0" for m in meds}}
        worlds["nie"] = {"X": 0, **{m: "x1" for m in meds}}
    twin = _Twin(model.family, model.cpts, worlds)
    out = {"ett": twin.p("Y@x1", {"X@f": 1}) - twin.p("Y@x0", {"X@f": 1})}
    if meds:
        y0 = twin.p("Y@x0")
        out |= {"nde": twin.p("Y@nde") - y0, "nie": twin.p("Y@nie") - y0}
    return out


def twin_det_counterfactual(model: DetModel, evidence: Mapping[str, int], x: int) -> float:
    """P(Y_{X=x} = 1 | evidence) of a deterministic model (roots uniform, every other node a 0/1 CPT)."""
    fam = FAMILIES[model.family]
    cpts = {
        n: {
            c: float(model.value(n, dict(zip(fam.parents[n], c, strict=True))))
            for c in itertools.product((0, 1), repeat=len(fam.parents[n]))
        }
        if fam.parents[n]
        else {(): 0.5}
        for n in fam.nodes
    }
    twin = _Twin(model.family, cpts, {"f": {}, "cf": {"X": x}})
    return twin.p("Y@cf", {f"{n}@f": v for n, v in evidence.items()})


TWIN_CHECKED = ("ett", "nde", "nie")


def cross_check(model: BinaryBN, plans: Mapping[str, Plan], margin: float) -> None:
    """Recompute every stated term and every answer's quantity independently; raise on disagreement."""
    oracle, scm, family = _Oracle(model), to_scm(model), model.family
    twin = twin_rung3(model) if any(q in TWIN_CHECKED for q in plans) else {}
    for q, plan in plans.items():
        for term, value in plan.exact_terms.items():
            _agree(f"{q}: {term.label}", value, oracle.prob(term), family)
        if q == "backadj":
            valid, invalid = plan.extra["valid"], plan.extra["invalid"]
            for x in (0, 1):
                truth = oracle.do(x)
                _agree(f"backadj: P(Y=1 | do(X={x}))", do_probability(model, {"Y": 1}, {"X": x}), truth, family)
                _agree(f"backadj: adjusting for {valid} (valid)", oracle.do(x, valid), truth, family)
                _agree(
                    f"backadj: adjusting for {invalid}",
                    adjusted_probability(model, invalid, x),
                    oracle.do(x, invalid),
                    family,
                )
            if max(abs(oracle.do(x, invalid) - oracle.do(x)) for x in (0, 1)) < margin:
                raise CLadderCrossCheckError(f"{family} network: the invalid set {invalid} adjusts correctly in pgmpy")
            continue
        if q in TWIN_CHECKED:  # rung 3: a second path that shares neither code nor coupling with the SCM
            _agree(f"{q}: estimand vs twin network", plan.exact, twin[q], family)
        _agree(f"{q}: estimand vs truth", plan.exact, _truth(model, q, oracle, scm), family)
        if q == "collider_bias" and nx.has_path(model.fam.graph(), "X", "Y"):
            raise CLadderCrossCheckError(f"{family} network: collider_bias asked where X causes Y")


# --- deterministic models --------------------------------------------------------------------------


@dataclass(frozen=True)
class DetModel:
    """Deterministic equations: ``node -> (op, literals)``, node = op over (parent == literal value)."""

    family: str
    equations: Mapping[str, tuple[str, tuple[int, ...]]]

    def value(self, node: str, a: Mapping[str, int]) -> int:
        op, literals = self.equations[node]
        hits = [a[p] == lit for p, lit in zip(FAMILIES[self.family].parents[node], literals, strict=True)]
        return int(all(hits) if op == "and" else any(hits))

    def params(self) -> dict[str, Any]:
        """CLadder's ``params`` layout with 0/1 entries; roots get the SCM's uniform prior."""
        fam = FAMILIES[self.family]
        out: dict[str, Any] = {}
        for node in fam.nodes:
            parents = fam.parents[node]
            if not parents:
                out[f"p({node})"] = 0.5
                continue
            table = np.zeros((2,) * len(parents))
            for c in itertools.product((0, 1), repeat=len(parents)):
                table[c] = self.value(node, dict(zip(parents, c, strict=True)))
            out[f"p({node} | {', '.join(parents)})"] = table.tolist()
        return out

    def equation(self, node: str) -> str:
        op, literals = self.equations[node]
        parents = FAMILIES[self.family].parents[node]
        terms = [p if lit else f"not {p}" for p, lit in zip(parents, literals, strict=True)]
        return f"{node} = {f' {op} '.join(terms)}"


def evaluate(model: DetModel, exogenous: Mapping[str, int], do: Mapping[str, int] | None = None) -> dict[str, int]:
    """Every variable's value from the roots' values, under an optional intervention."""
    do = do or {}
    a: dict[str, int] = {}
    for node in FAMILIES[model.family].nodes:
        a[node] = do[node] if node in do else exogenous[node] if node in exogenous else model.value(node, a)
    return a


def draw_det_model(family: str, rng: np.random.Generator) -> DetModel:
    fam = FAMILIES[family]
    equations = {}
    for node in fam.nodes:
        if fam.parents[node]:
            literals = tuple(int(rng.random() < 0.7) for _ in fam.parents[node])
            equations[node] = ("and" if len(literals) > 1 and rng.random() < 0.5 else "or", literals)
    return DetModel(family, equations)


def det_scm(model: DetModel) -> SCM:
    """The equations as an SCM: roots get a uniform prior, so abduction has work to do."""
    fam = FAMILIES[model.family]
    mechs = {}
    for node in fam.nodes:
        parents = fam.parents[node]
        if not parents:
            mechs[node] = bernoulli((), {(): 0.5})
            continue
        configs = itertools.product((0, 1), repeat=len(parents))
        mechs[node] = bernoulli(
            parents, {c: float(model.value(node, dict(zip(parents, c, strict=True)))) for c in configs}
        )
    return SCM(mechs)


# --- words -----------------------------------------------------------------------------------------


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def background(fam: Family, variables: Mapping[str, Var], deterministic: bool = False) -> str:
    sentences = [
        f"{_cap(variables[n].name)} has a direct effect on {_join([variables[c].name for c in fam.children(n)])}."
        for n in fam.nodes
        if fam.children(n)
    ]
    if not deterministic:
        sentences += [f"{_cap(variables[n].name)} is unobserved." for n in fam.unobserved]
    return BACKGROUND_PREFIX + " ".join(sentences)


def _say_term(term: Term, variables: Mapping[str, Var], value: float) -> str:
    pct = f"{round(value * 100)}%"
    event = _join([variables[k].noun(v) for k, v in term.event])
    if term.given:
        given = _join([variables[k].noun(v) for k, v in term.given])
        return f"For those with {given}, the probability of {event} is {pct}."
    overall = "overall " if len(term.event) == 1 else ""
    return f"The {overall}probability of {event} is {pct}."


def _phrasings(query_type: str, v: Mapping[str, Var], fam: Family) -> tuple[str, str]:
    """(positive, negative) phrasing of a numeric query, CLadder's wording."""
    x, y = v["X"], v["Y"]
    meds = _join([v[m].name for m in fam.mediators]) if fam.mediators else ""
    pairs = {
        "marginal": ("Is {y1} more likely than {y0} overall?", "Is {y1} less likely than {y0} overall?"),
        "correlation": (
            "Is the chance of {y1} larger when observing {x1}?",
            "Is the chance of {y1} smaller when observing {x1}?",
        ),
        "exp_away": (
            "If we look at those with {v3}, does the chance of {y1} increase when observing {x1}?",
            "If we look at those with {v3}, does the chance of {y1} decrease when observing {x1}?",
        ),
        "ate": ("Will {x1} increase the chance of {y1}?", "Will {x1} decrease the chance of {y1}?"),
        "ett": (
            "For those with {x1}, would it be more likely to see {y1} if they had {x0} instead?",
            "For those with {x1}, would it be less likely to see {y1} if they had {x0} instead?",
        ),
        "nde": (
            "If we disregard the mediation effect through {meds}, would {xn} positively affect {yn}?",
            "If we disregard the mediation effect through {meds}, would {xn} negatively affect {yn}?",
        ),
        "nie": ("Does {xn} positively affect {yn} through {meds}?", "Does {xn} negatively affect {yn} through {meds}?"),
    }
    words = {
        "x1": x.one, "x0": x.zero, "y1": y.one, "y0": y.zero, "xn": x.name, "yn": y.name, "meds": meds,
        "v3": v["V3"].one if "V3" in v else "",
    }  # fmt: skip
    pos, neg = pairs[query_type]
    return _cap(pos.format(**words)), _cap(neg.format(**words))


def _step0(fam: Family, variables: Mapping[str, Var]) -> str:
    return "Let " + "; ".join(f"{n} = {variables[n].name}" for n in fam.nodes) + "."


# --- questions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionContext:
    fam: Family
    variables: Mapping[str, Var]
    story_id: str
    variant: str
    model_id: int


def _record(
    ctx: QuestionContext, query_type: str, k: int, given_info: str, question: str, yes: bool, meta: dict
) -> dict:
    return {
        "question_id": 0,  # numbered once all questions exist
        "desc_id": f"{ctx.story_id}-{ctx.fam.name}-{query_type}-model{ctx.model_id}-q{k}",
        "given_info": given_info,
        "question": question,
        "answer": "yes" if yes else "no",
        "meta": {
            "story_id": ctx.story_id,
            "graph_id": ctx.fam.name,
            "query_type": query_type,
            "rung": RUNGS[query_type],
            "model_id": ctx.model_id,
            "variant": ctx.variant,
            "generator_version": GENERATOR_VERSION,
            "treatment": "X",
            "outcome": "Y",
            **meta,
        },
    }


def _numeric_questions(ctx: QuestionContext, plan: Plan) -> list[dict]:
    est = plan.estimand
    assert est is not None
    q = plan.query_type
    given_info = " ".join(_say_term(t, ctx.variables, v) for t, v in plan.stated_terms.items())
    d = plan.stated - est.threshold
    sign = -1 if q == "ett" else 1  # "would it be MORE likely ... had they NOT been treated" is yes iff ETT < 0
    reasoning = {
        "step0": _step0(ctx.fam, ctx.variables),
        "step1": ctx.fam.structure(),
        "step2": est.formal_form,
        "step3": est.formula,
        "step4": "\n".join(f"{t.label} = {v:.2f}" for t, v in plan.stated_terms.items()),
        "step5": f"{plan.stated:.4f}",
        "end": f"{plan.stated:.4f} {'>' if d > 0 else '<'} {est.threshold:g}",
    }
    out = []
    for k, (text, polarity) in enumerate(zip(_phrasings(q, ctx.variables, ctx.fam), (True, False), strict=True)):
        meta = {
            "polarity": polarity,
            "groundtruth": plan.exact,
            "formal_form": est.formal_form,
            "estimand": est.formula,
            "given_info": {t.label: v for t, v in plan.stated_terms.items()},
            "estimand_value": plan.exact,
            "stated_estimate": plan.stated,
        }
        if q in ("nde", "nie"):
            meta["mediators"] = list(ctx.fam.mediators)
        if q == "exp_away":
            meta["collider"] = "V3"
        rec = _record(ctx, q, k, given_info, text, (sign * d > 0) == polarity, meta)
        rec["reasoning"] = reasoning
        out.append(rec)
    return out


def _method(subset: Sequence[str], v: Mapping[str, Var]) -> str:
    x, y = v["X"].name, v["Y"].name
    if not subset:
        return f"We look directly at how {x} correlates with {y} in general."
    return f"We look at how {x} correlates with {y} case by case according to {_join([v[n].name for n in subset])}."


def _backadj_questions(ctx: QuestionContext, plan: Plan) -> list[dict]:
    valid, invalid = plan.extra["valid"], plan.extra["invalid"]
    v = ctx.variables
    question = (
        f"To understand how {v['X'].name} affects {v['Y'].name}, is it more correct to use the Method 1 than Method 2?"
    )
    out = []
    for k, (first, second) in enumerate(((valid, invalid), (invalid, valid))):
        given_info = f"Method 1: {_method(first, v)} Method 2: {_method(second, v)}"
        meta = {
            "polarity": True,
            "flipped": k == 1,
            "groundtruth": list(valid),
            "bad_candidate_set": list(invalid),
            "given_info": [list(first), list(second)],
            "formal_form": "[backdoor adjustment set for Y given X]",
            "estimand_value": None,  # structural: which set satisfies the backdoor criterion
        }
        rec = _record(ctx, "backadj", k, given_info, question, first == valid, meta)
        rec["reasoning"] = {
            "step0": _step0(ctx.fam, v),
            "step1": ctx.fam.structure(),
            "step2": "[backdoor adjustment set for Y given X]",
            "step3": f"{{{', '.join(valid)}}} blocks every backdoor path from X to Y and holds no descendant of X; "
            f"{{{', '.join(invalid)}}} does not.",
            "step4": "",
            "step5": "",
            "end": "yes" if first == valid else "no",
        }
        out.append(rec)
    return out


def _collider_questions(ctx: QuestionContext, plan: Plan) -> list[dict]:
    v = ctx.variables
    phi = round(plan.extra["phi"], 2) + 0.0  # + 0.0: no "-0.00"
    given_info = f"For those with {v['V3'].one}, the correlation between {v['X'].name} and {v['Y'].name} is {phi:.2f}."
    lead = f"If we look at those with {v['V3'].one}, does it mean that {v['X'].name}"
    causes = nx.has_path(ctx.fam.graph(), "X", "Y")
    out = []
    for k, (text, polarity) in enumerate(
        ((f"{lead} affects {v['Y'].name}?", True), (f"{lead} does not affect {v['Y'].name}?", False))
    ):
        meta = {
            "polarity": polarity,
            "collider": "V3",
            "groundtruth": plan.exact,
            "formal_form": ATE_FORM,
            "estimand": "0 (no directed path from X to Y)",
            "given_info": {"corr(X, Y | V3=1)": phi},
            "estimand_value": plan.exact,
        }
        rec = _record(ctx, "collider_bias", k, given_info, text, causes == polarity, meta)
        rec["reasoning"] = {
            "step0": _step0(ctx.fam, v),
            "step1": ctx.fam.structure(),
            "step2": ATE_FORM,
            "step3": "X and Y do not affect each other; V3 is their common effect (a collider).",
            "step4": "",
            "step5": "0",
            "end": "no",
        }
        out.append(rec)
    return out


def det_questions(ctx: QuestionContext, model: DetModel, roots: Mapping[str, int]) -> list[dict]:
    """Asks whether Y would take a value had X been flipped, given every root's value (X's through the
    question); answered from the equations and checked against the twin network and the SCM."""
    fam, v = ctx.fam, ctx.variables
    factual = evaluate(model, roots)
    x_fact = factual["X"]
    counterfactual = evaluate(model, roots, {"X": 1 - x_fact})
    y_cf = counterfactual["Y"]
    facts = {**roots, "X": x_fact}
    via_twin = twin_det_counterfactual(model, facts, 1 - x_fact)
    _agree("det-counterfactual: the equations vs twin network", float(y_cf), via_twin, fam.name)
    via_scm = det_scm(model).counterfactual({"Y": 1}, {"X": 1 - x_fact}, facts)
    _agree("det-counterfactual: SCM vs the equations", float(y_cf), via_scm, fam.name)

    sentences = []
    for node in fam.nodes:
        if fam.parents[node]:
            op, literals = model.equations[node]
            lits = [v[p].noun(lit) for p, lit in zip(fam.parents[node], literals, strict=True)]
            if len(lits) == 1:
                cond = f"{lits[0]} occurs"
            elif op == "and":
                cond = f"{_join(lits)} {'both' if len(lits) == 2 else 'all'} occur"
            else:
                cond = f"{', '.join(lits[:-1])} or {lits[-1]} occurs"
            sentences.append(f"We know that {v[node].one} occurs if and only if {cond}.")
    observed = [v[n].noun(roots[n]) for n in fam.roots if n != "X"]
    if observed:
        sentences.append(f"We observed {_join(observed)}.")
    given_info = " ".join(sentences)
    evidence = {n: roots[n] for n in fam.roots if n != "X"}
    formal = f"Y_{{X={1 - x_fact}}} = 1 | " + ", ".join(f"{n}={val}" for n, val in {**evidence, "X": x_fact}.items())
    out = []
    for k, (target, polarity) in enumerate(((1, True), (0, False))):
        text = (
            f"Would {v['Y'].noun(target)} occur if we had {v['X'].noun(1 - x_fact)} instead of {v['X'].noun(x_fact)}?"
        )
        meta = {
            "polarity": polarity,
            "groundtruth": y_cf,
            "formal_form": formal,
            "estimand": "abduction (roots from the evidence), action do(X), prediction through the equations",
            "given_info": {
                "equations": [model.equation(n) for n in model.equations],
                "evidence": evidence,
                "X": x_fact,
            },
            "estimand_value": float(y_cf),
        }
        rec = _record(ctx, "det-counterfactual", k, given_info, _cap(text), y_cf == target, meta)
        rec["reasoning"] = {
            "step0": _step0(fam, v),
            "step1": fam.structure(),
            "step2": formal,
            "step3": "; ".join(model.equation(n) for n in model.equations),
            "step4": ", ".join(f"{n}={val}" for n, val in {**evidence, "X": x_fact}.items()),
            "step5": ", ".join(f"{n}={val}" for n, val in counterfactual.items()),
            "end": f"Y = {y_cf}",
        }
        out.append(rec)
    return out


def _model_record(ctx: QuestionContext, equation_type: str, params: dict[str, Any], **extra: Any) -> dict:
    return {
        "model_id": ctx.model_id,
        "story_id": ctx.story_id,
        "graph_id": ctx.fam.name,
        "variant": ctx.variant,
        "generator_version": GENERATOR_VERSION,
        "equation_type": equation_type,
        "background": background(ctx.fam, ctx.variables, deterministic=equation_type == "deterministic"),
        "variable_mapping": {
            f"{n}{suffix}": word
            for n in ctx.fam.nodes
            for suffix, word in (
                ("name", ctx.variables[n].name),
                ("1", ctx.variables[n].one),
                ("0", ctx.variables[n].zero),
            )
        },
        "structure": ctx.fam.structure(),
        "params": params,
        **extra,
    }


def model_questions(
    model: BinaryBN, plans: Mapping[str, Plan], ctx: QuestionContext, margin: float
) -> tuple[dict, list[dict]]:
    """The model's metadata record and its questions, after the cross-check."""
    cross_check(model, plans, margin)
    questions: list[dict] = []
    for q in QUERY_TYPES:
        if q not in plans:
            continue
        maker = {"backadj": _backadj_questions, "collider_bias": _collider_questions}.get(q, _numeric_questions)
        questions.extend(maker(ctx, plans[q]))
    return _model_record(ctx, "bernoulli", model.params(), unobserved=list(model.fam.unobserved)), questions


# --- configuration and the whole set ---------------------------------------------------------------


@dataclass(frozen=True)
class CLadderGenConfig:
    """A generated CLadder-style set: ``n_models_per_family`` networks per family and story variant,
    each asked every applicable query type (two phrasings each), plus as many deterministic models
    for ``det-counterfactual``. Same config, same bytes."""

    n_models_per_family: int = 2
    seed: int = 0
    families: tuple[str, ...] = FAMILY_NAMES
    variants: tuple[str, ...] = VARIANTS
    query_types: tuple[str, ...] = QUERY_TYPES
    margin: float = 0.01  # |effect| below this is a knife-edge label: such questions are not asked

    def __post_init__(self) -> None:
        n = self.n_models_per_family
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n_models_per_family must be a positive integer, got {n!r}: set it to 1 or more")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name, allowed in (("families", FAMILY_NAMES), ("variants", VARIANTS), ("query_types", QUERY_TYPES)):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(f"{name} must be a list of names, not the string {value!r}: write [{value!r}]")
            values = tuple(value)
            if not values:
                raise ValueError(f"{name} is empty: name at least one of {', '.join(allowed)}")
            for item in values:
                if item not in allowed:
                    close = difflib.get_close_matches(str(item), allowed, n=1)
                    hint = f" Did you mean '{close[0]}'?" if close else ""
                    raise ValueError(f"{name} has unknown '{item}'.{hint} Choose from {', '.join(allowed)}.")
            if len(set(values)) != len(values):
                raise ValueError(f"{name} lists a name twice: {list(values)}; list each once")
            object.__setattr__(self, name, values)
        if isinstance(self.margin, bool) or not isinstance(self.margin, int | float) or not 0 <= self.margin < 0.5:
            raise ValueError(f"margin must be a number in [0, 0.5), got {self.margin!r}")


def generate_cladder(cfg: CLadderGenConfig) -> tuple[list[dict], list[dict]]:
    """(questions, models) in CLadder's release format; raises ``CLadderCrossCheckError`` on a bug."""
    questions: list[dict] = []
    models: list[dict] = []
    numeric = [q for q in cfg.query_types if q != "det-counterfactual"]
    for family in cfg.families:
        fam = FAMILIES[family]
        types = [q for q in numeric if applicable(fam, q)]
        for variant in cfg.variants:
            for k in range(cfg.n_models_per_family):
                rng = np.random.default_rng([cfg.seed, FAMILY_NAMES.index(family), VARIANTS.index(variant), k])
                story_id, variables = story_variables(fam, variant, k, cfg.seed)
                if types:
                    model, plans = accepted_model(family, types, cfg.margin, rng)
                    ctx = QuestionContext(fam, variables, story_id, variant, len(models))
                    record, qs = model_questions(model, plans, ctx, cfg.margin)
                    if qs:
                        models.append(record)
                        questions.extend(qs)
                if "det-counterfactual" in cfg.query_types:
                    # its own stream: the deterministic model does not move when numeric query types change
                    det_rng = np.random.default_rng(
                        [cfg.seed, FAMILY_NAMES.index(family), VARIANTS.index(variant), k, 1]
                    )
                    det = draw_det_model(family, det_rng)
                    ctx = QuestionContext(fam, variables, story_id, variant, len(models))
                    roots = {n: int(det_rng.integers(2)) for n in fam.roots}
                    questions.extend(det_questions(ctx, det, roots))
                    equations = [det.equation(n) for n in det.equations]
                    models.append(_model_record(ctx, "deterministic", det.params(), unobserved=[], equations=equations))
    for i, q in enumerate(questions, 1):
        q["question_id"] = i
    return questions, models


def write_cladder(
    questions: Sequence[Mapping[str, Any]], models: Sequence[Mapping[str, Any]], out_dir: Path | str, stem: str
) -> tuple[Path, Path]:
    """Write ``<stem>.json`` (questions) and ``<stem>-meta-models.json`` (models), as the release does."""
    out = Path(out_dir)
    paths = out / f"{stem}.json", out / f"{stem}-meta-models.json"
    for path, data in zip(paths, (questions, models), strict=True):
        write_json(path, list(data))  # atomic: a crash never leaves half a benchmark file
    return paths
