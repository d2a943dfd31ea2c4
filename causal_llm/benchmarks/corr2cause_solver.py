"""The exact Corr2Cause solver: answers an item from its text alone, by the Markov equivalence class.

It shares no code with the generator (``corr2cause_gen``): the reference row it scores is a check on
the generator's labels only if it is computed independently of them. Everything here is plain
text parsing plus networkx's d-separation (``nx.is_d_separator``).

Text (Jin et al. 2024, the released ``data_verbalize.py`` and files): "Premise: Suppose there is a
closed system of N variables, A, B and C. All the statistical relations among these N variables
are as follows: A correlates with B. ... However, A is independent of C. B and C are independent
given A. ...\\nHypothesis: ...". The premise is closed-world: it lists every correlated pair
and *every* (pair, conditioning set) that is independent; what it does not list does not hold.

Method: a DAG matches the premise iff its d-separations are exactly the stated independences. Two
variables adjacent in a DAG are never d-separated and two non-adjacent ones are separated by the
parents of one of them, so every matching DAG has the premise's skeleton (the pairs never stated
independent). The solver orients that skeleton along every topological order of the variables
(each acyclic orientation follows at least one; repeats are skipped), keeps the orientations whose
d-separations match exactly (the Markov equivalence class; adjacent pairs need no check) and calls
the hypothesis valid iff it holds in every one of them (invalid when none matches: a premise that
contradicts itself).

Hypotheses (the paper's templates and its paraphrased robustness set), read as claims about the
named pair (a, b):

- *edge*: "a directly causes b." (or "directly affects") - the edge a -> b.
- *indirect*: "a causes something else which causes b.", "a is a cause for b, but not a direct
  one." or "a influences b through some mediator(s)." - a directed path a -> m -> ... -> b of length
  >= 2 (a direct edge a -> b beside it does not matter, as in the released labels).
- *collider*: "There exists at least one collider (i.e., common effect) of a and b." or "a and b
  together cause some other variable(s)." - some c reached by a directed path from a that avoids b
  and by one from b that avoids a (a common effect, direct or not; in a -> b -> c, c is reached
  from a only through b and is no collider of a and b).
- *confounder*: "There exists at least one confounder (i.e., common cause) of a and b." or "Some
  variable(s) cause(s) both a and b." - the mirror image: some c with directed paths c -> ... -> a
  avoiding b and c -> ... -> b avoiding a.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass

import networkx as nx

MAX_VARIABLES = 6  # the paper's largest N; enumeration walks all N! topological orders (720 at N = 6)
EDGE, INDIRECT, COLLIDER, CONFOUNDER = "edge", "indirect", "collider", "confounder"

# (pattern, claim, the published template the wording names on its own). None: the order of the two
# variables in the premise's list decides (parent/child share "X directly causes Y."); see
# ``corr2cause.relation_of``.
_HYPOTHESES = (
    (r"(\w+) directly (?:causes|affects) (\w+)", EDGE, None),
    (r"(\w+) causes something else which causes (\w+)", INDIRECT, "non_parent_ancestor"),
    (r"(\w+) is a cause for (\w+), but not a direct one", INDIRECT, "non_child_descendant"),
    (r"(\w+) influences (\w+) through some mediator\(s\)", INDIRECT, None),
    (r"There exists at least one collider \(i\.e\., common effect\) of (\w+) and (\w+)", COLLIDER, "has_collider"),
    (r"(\w+) and (\w+) together cause some other variable\(s\)", COLLIDER, "has_collider"),
    (r"There exists at least one confounder \(i\.e\., common cause\) of (\w+) and (\w+)", CONFOUNDER, "has_confounder"),
    (r"Some variable\(s\) cause\(s\) both (\w+) and (\w+)", CONFOUNDER, "has_confounder"),
)
_HEADER = re.compile(
    r"Suppose there is a closed system of (\d+) variables?, (.+?)\. All the statistical relations among "
    r"these \d+ variables? are as follows:(.*)",
    re.DOTALL,
)
_STATEMENTS = (  # (pattern, is an independence)
    (re.compile(r"(\w+) correlates with (\w+)"), False),
    (re.compile(r"(\w+) is independent of (\w+)"), True),
    (re.compile(r"(\w+) and (\w+) are independent given (.+)"), True),
    (re.compile(r"(\w+) is independent of (\w+) given (.+)"), True),
)


@dataclass(frozen=True)
class Premise:
    """What a premise states: the variables in its order, the correlated pairs and the
    independences as (pair, conditioning set)."""

    names: tuple[str, ...]
    correlated: frozenset[frozenset[str]]
    independent: frozenset[tuple[frozenset[str], frozenset[str]]]


@dataclass(frozen=True)
class Hypothesis:
    """A claim about (a, b): EDGE and INDIRECT read "a causes b", COLLIDER and CONFOUNDER are
    symmetric. ``named``: the published template its wording names on its own, if any."""

    claim: str
    a: str
    b: str
    named: str | None


def split_input(text: str) -> tuple[str, str]:
    """(premise, hypothesis) of a "Premise: ...\\nHypothesis: ..." input."""
    head, sep, hypothesis = text.partition("Hypothesis:")
    head = head.strip()
    if not sep or not head.startswith("Premise:"):
        raise ValueError("expected 'Premise: ...' followed by 'Hypothesis: ...'")
    return head.removeprefix("Premise:").strip(), hypothesis.strip()


def _names(text: str) -> list[str]:
    """["A", "B", "C"] from "A, B and C"."""
    return [v for v in re.split(r",\s*|\s+and\s+", text.strip()) if v]


def _header(premise: str) -> tuple[tuple[str, ...], str]:
    """(the variables a premise announces, in its order; the statements after the header)."""
    match = _HEADER.fullmatch(premise.strip())
    if not match:
        raise ValueError("premise does not start 'Suppose there is a closed system of N variables, ...'")
    names = tuple(_names(match.group(2)))
    if len(names) != int(match.group(1)) or len(set(names)) != len(names):
        raise ValueError(f"premise announces {match.group(1)} variables but lists {', '.join(names)}")
    return names, match.group(3)


def variables_of(premise: str) -> tuple[str, ...]:
    """The variables a premise announces, in its order (its statements are not read)."""
    return _header(premise)[0]


def _statement(sentence: str) -> tuple[str, str, frozenset[str], bool]:
    """(x, y, conditioning set, is an independence) of one premise sentence."""
    for pattern, is_independence in _STATEMENTS:
        if m := pattern.fullmatch(sentence):
            given = frozenset(_names(m.group(3))) if pattern.groups == 3 else frozenset()
            return m.group(1), m.group(2), given, is_independence
    raise ValueError(f"unrecognised premise statement {sentence!r}")


def parse_premise(premise: str) -> Premise:
    names, body = _header(premise)
    correlated, independent = set(), set()
    for sentence in re.split(r"(?<=\.)\s+", body.strip()):
        sentence = sentence.strip().removeprefix("However,").strip().removesuffix(".")
        if not sentence:
            continue
        x, y, given, is_independence = _statement(sentence)
        if unknown := {x, y, *given} - set(names):
            raise ValueError(f"premise statement {sentence!r} names unknown variable(s) {sorted(unknown)}")
        if x == y or {x, y} & given:
            raise ValueError(f"premise statement {sentence!r} relates a variable to itself")
        if is_independence:
            independent.add((frozenset((x, y)), given))
        else:
            correlated.add(frozenset((x, y)))
    return Premise(names, frozenset(correlated), frozenset(independent))


def parse_hypothesis(hypothesis: str) -> Hypothesis:
    sentence = hypothesis.strip().removesuffix(".")
    for pattern, claim, named in _HYPOTHESES:
        if m := re.fullmatch(pattern, sentence):
            return Hypothesis(claim, m.group(1), m.group(2), named)
    raise ValueError(f"hypothesis {hypothesis!r} matches none of the Corr2Cause templates")


def _matches(dag: nx.DiGraph, premise: Premise, separated: dict[frozenset[str], set[frozenset[str]]]) -> bool:
    """Whether ``dag``'s d-separations among non-adjacent pairs are exactly the stated ones."""
    for pair, stated in separated.items():
        x, y = sorted(pair)
        rest = [v for v in premise.names if v not in pair]
        for size in range(len(rest) + 1):
            for z in itertools.combinations(rest, size):
                if nx.is_d_separator(dag, {x}, {y}, set(z)) != (frozenset(z) in stated):
                    return False
    return True


@functools.lru_cache(maxsize=4096)
def equivalence_class(premise: Premise) -> tuple[nx.DiGraph, ...]:
    """Every DAG whose d-separations are exactly the premise's independences (frozen graphs; empty
    when the premise contradicts itself or no DAG says it)."""
    names = premise.names
    if len(names) > MAX_VARIABLES:
        raise ValueError(f"the premise has {len(names)} variables; the solver enumerates at most {MAX_VARIABLES}")
    separated: dict[frozenset[str], set[frozenset[str]]] = {}
    for pair, given in premise.independent:
        separated.setdefault(pair, set()).add(given)
    pairs = {frozenset(p) for p in itertools.combinations(names, 2)}
    marginal = {pair for pair, given in premise.independent if not given}
    if premise.correlated != pairs - marginal:  # closed world: a pair correlates iff not marginally independent
        return ()
    skeleton = [tuple(sorted(p)) for p in pairs - separated.keys()]
    seen: set[frozenset[tuple[str, str]]] = set()
    out = []
    for order in itertools.permutations(names):
        rank = {v: i for i, v in enumerate(order)}
        edges = frozenset((a, b) if rank[a] < rank[b] else (b, a) for a, b in skeleton)
        if edges in seen:
            continue
        seen.add(edges)
        dag = nx.DiGraph(edges)
        dag.add_nodes_from(names)
        if _matches(dag, premise, separated):
            out.append(nx.freeze(dag))
    return tuple(out)


def _reach(dag: nx.DiGraph, start: str, avoid: str, forward: bool) -> set[str]:
    """Nodes reached from ``start`` by >= 1 step along (``forward``) or against the edges, never
    passing through ``avoid``."""
    view = dag.subgraph(v for v in dag if v != avoid)
    return nx.descendants(view, start) if forward else nx.ancestors(view, start)


def holds(hypothesis: Hypothesis, dag: nx.DiGraph) -> bool:
    """Whether the claim is true in one DAG (definitions in the module docstring)."""
    a, b = hypothesis.a, hypothesis.b
    if hypothesis.claim == EDGE:
        return dag.has_edge(a, b)
    if hypothesis.claim == INDIRECT:
        return any(b in nx.descendants(dag, m) for m in dag.successors(a) if m != b)
    forward = hypothesis.claim == COLLIDER
    return bool(_reach(dag, a, b, forward) & _reach(dag, b, a, forward))


def solve(text: str) -> int:
    """1 iff the hypothesis holds in every DAG of the premise's Markov equivalence class (0 when
    the class is empty). Raises ValueError on text outside the templates or over MAX_VARIABLES."""
    premise_text, hypothesis_text = split_input(text)
    hypothesis = parse_hypothesis(hypothesis_text)
    premise = parse_premise(premise_text)
    if hypothesis.a not in premise.names or hypothesis.b not in premise.names or hypothesis.a == hypothesis.b:
        raise ValueError(
            f"hypothesis relates {hypothesis.a} and {hypothesis.b}, which are not two of the variables "
            f"{', '.join(premise.names)}"
        )
    dags = equivalence_class(premise)
    return int(bool(dags) and all(holds(hypothesis, dag) for dag in dags))
