"""Corr2Cause items generated with exact answers, and the exact solver that answers them.

Corr2Cause (Jin et al. 2024, "Can Large Language Models Infer Causation from Correlation?", ICLR;
data and code: causalNLP/corr2cause): the premise states every correlation and (conditional)
independence that d-separation implies in a causal DAG over N variables; the hypothesis states one
causal relation between two of them; it is *valid* iff it holds in every DAG whose d-separation
statements are exactly the premise (the Markov equivalence class, MEC).

Conventions, following the released generator (``data_gen.cpp``, ``data_verbalize.py``):

- Premise (closed world, as the paper): "Suppose there is a closed system of N variables, A, B and
  C. All the statistical relations among these N variables are as follows: " + "X correlates with
  Y." for every pair that is *not* marginally independent, then "However, " + every independence:
  "X is independent of Y." (empty set) and "X and Y are independent given Z, W and V." for *every*
  conditioning set of the other variables that d-separates X and Y. Conditional dependencies are
  not stated: whatever is not listed does not hold. Statements are sorted by (X, Y, set).
- Hypotheses, for every unordered pair X < Y, six relations (names as in the released code):
  parent "X directly causes Y."; child "Y directly causes X."; non_parent_ancestor "X causes
  something else which causes Y." (or, at random, "X is a cause for Y, but not a direct one.");
  non_child_descendant the same with X and Y swapped; has_collider "There exists at least one
  collider (i.e., common effect) of X and Y."; has_confounder "... confounder (i.e., common
  cause) ..." (X and Y in random order).
- Semantics. Parent/child: a direct edge. Ancestor/descendant: a directed path of length >= 2
  (X -> M -> ... -> Y); the released labels are computed this way, so an indirect path counts even
  when X -> Y also exists, although the paper calls the relation "non-parent ancestor".
  Collider: a path X -> ... -> C <- ... <- Y, i.e. some C is a descendant of X along a path
  avoiding Y and of Y along a path avoiding X (a common effect, direct or indirect - not just a
  common child; a descendant of Y reached only *through* Y, as in X -> Y -> C, does not count).
  Confounder: the mirror image, a path X <- ... <- C -> ... -> Y (a common cause, direct or not).
  The released code means exactly this for both, but its confounder loop only recognises
  C -> Y as a direct edge (an index bug); we use the symmetric definition.

Labels come from enumerating every labelled DAG over N <= 5 nodes once (25, 543 and 29,281 for
N = 3, 4, 5; cached per N) and grouping them by their full d-separation signature. The solver
(``solve``) shares none of that: it parses the text, keeps the pairs the premise never separates
(the skeleton any matching DAG must have), enumerates the acyclic orientations of that skeleton and
keeps those whose d-separation statements equal the premise exactly. D-separation is computed on
whole stacks of DAGs at once with bitmasks (``networkx.is_d_separator`` would take minutes for
the 2.3M queries at N = 5); the tests check it against networkx on every DAG over 4 nodes.
"""

from __future__ import annotations

import csv
import functools
import itertools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from causal_llm.corpus import write_jsonl

GENERATOR_VERSION = "1"
VARIABLE_NAMES = "ABCDE"
MAX_ENUMERATED = 5  # 3,781,503 labelled DAGs at N = 6: too many to enumerate on every run
MAX_SOLVER_EDGES = 15  # a complete skeleton over 6 variables (the paper's largest N): 2^15 orientations, ~0.2 s
# Markov equivalence classes over N labelled variables (what enumerate_dags finds; a test checks it):
# bounds n_graphs when premises must be unique.
N_CLASSES = {2: 2, 3: 11, 4: 185, 5: 8782}

RELATIONS = ("parent", "non_parent_ancestor", "child", "non_child_descendant", "has_collider", "has_confounder")
# The four directed kinds the six relations are read from: kind[x, y].
EDGE, INDIRECT, COLLIDER, CONFOUNDER = range(4)
_KIND_OF = {  # relation on (X, Y) -> (kind, swap the pair?)
    "parent": (EDGE, False),
    "non_parent_ancestor": (INDIRECT, False),
    "child": (EDGE, True),
    "non_child_descendant": (INDIRECT, True),
    "has_collider": (COLLIDER, False),
    "has_confounder": (CONFOUNDER, False),
}
QUESTION = "\nIs the hypothesis implied by the premise? Answer (yes or no):"

# The paper's templates (cause, effect) and the paraphrases of its robustness set; all are parsed.
EDGE_TEXT = "{a} directly causes {b}."
INDIRECT_TEXTS = ("{a} causes something else which causes {b}.", "{a} is a cause for {b}, but not a direct one.")
COLLIDER_TEXT = "There exists at least one collider (i.e., common effect) of {a} and {b}."
CONFOUNDER_TEXT = "There exists at least one confounder (i.e., common cause) of {a} and {b}."
_HYPOTHESIS_PATTERNS = (
    (EDGE, r"(\w+) directly (?:causes|affects) (\w+)"),
    (INDIRECT, r"(\w+) causes something else which causes (\w+)"),
    (INDIRECT, r"(\w+) is a cause for (\w+), but not a direct one"),
    (INDIRECT, r"(\w+) influences (\w+) through some mediator\(s\)"),
    (COLLIDER, r"There exists at least one collider \(i\.e\., common effect\) of (\w+) and (\w+)"),
    (COLLIDER, r"(\w+) and (\w+) together cause some other variable\(s\)"),
    (CONFOUNDER, r"There exists at least one confounder \(i\.e\., common cause\) of (\w+) and (\w+)"),
    (CONFOUNDER, r"Some variable\(s\) cause\(s\) both (\w+) and (\w+)"),
)
_PREMISE = re.compile(
    r"Suppose there is a closed system of (\d+) variables?, (.+?)\. All the statistical relations among "
    r"these \d+ variables? are as follows:(.*)",
    re.DOTALL,
)
_CORRELATES = re.compile(r"(\w+) correlates with (\w+)")
_MARGINAL = re.compile(r"(\w+) is independent of (\w+)")
_CONDITIONAL = re.compile(r"(\w+) (?:and (\w+) are independent|is independent of (\w+)) given (.+)")


@dataclass(frozen=True)
class Corr2CauseGenConfig:
    """What to generate. ``n_variables``: the N each graph draws from (uniformly); ``n_graphs``
    premises, each drawn uniformly from the Markov equivalence classes over N labelled variables
    (the paper enumerates every class once) with its true DAG drawn uniformly within the class;
    ``hypotheses_per_graph``: how many of the 6 * C(N, 2) hypotheses to keep (None: all);
    ``unique_premises``: never repeat a class (sampling without replacement)."""

    n_variables: tuple[int, ...] = (3, 4, 5)
    n_graphs: int = 60
    seed: int = 0
    hypotheses_per_graph: int | None = None
    unique_premises: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_variables", tuple(self.n_variables))
        if not self.n_variables or any(
            isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_ENUMERATED for n in self.n_variables
        ):
            raise ValueError(
                f"n_variables={self.n_variables!r}: give a non-empty list of integers between 2 and "
                f"{MAX_ENUMERATED} (labels enumerate every DAG, which is infeasible beyond {MAX_ENUMERATED})"
            )
        if len(set(self.n_variables)) != len(self.n_variables):
            raise ValueError(f"n_variables={self.n_variables!r} repeats a value: list each N once")
        if not isinstance(self.n_graphs, int) or self.n_graphs < 1:
            raise ValueError(f"n_graphs={self.n_graphs!r}: set it to a positive integer")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r}: set it to a non-negative integer")
        n_classes = sum(N_CLASSES[n] for n in self.n_variables)
        if self.unique_premises and self.n_graphs > n_classes:
            raise ValueError(
                f"n_graphs={self.n_graphs} exceeds the {n_classes} distinct premises over n_variables="
                f"{self.n_variables}: lower n_graphs, add a larger N, or set unique_premises=false"
            )
        fewest = 6 * min(self.n_variables) * (min(self.n_variables) - 1) // 2
        if self.hypotheses_per_graph is not None and (
            not isinstance(self.hypotheses_per_graph, int) or not 1 <= self.hypotheses_per_graph <= fewest
        ):
            raise ValueError(
                f"hypotheses_per_graph={self.hypotheses_per_graph!r}: set it to null (all) or to an integer "
                f"from 1 to {fewest} (the hypotheses of a graph over {min(self.n_variables)} variables)"
            )


@dataclass(frozen=True)
class Corr2CauseRow:
    """One item in the published CSV layout (``input``, ``label``) plus the ground truth we know."""

    input: str
    label: int
    relation: str
    n_variables: int
    graph: str
    generator_version: str = GENERATOR_VERSION


# --- graph maths on stacks of DAGs: adj[m, i, j] is True iff i -> j in DAG m -------------------------------
# Node sets are bitmasks (bit v = node v) so that one numpy operation acts on every DAG of the stack.


def _masks(adj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(parents, children): [m, v] bitmasks of v's parents and children."""
    bit = (1 << np.arange(adj.shape[-1])).astype(np.uint8)
    parents = (adj * bit[None, :, None]).sum(1, dtype=np.uint8)
    children = (adj * bit[None, None, :]).sum(2, dtype=np.uint8)
    return parents, children


def _spread(neighbours: np.ndarray, start: np.ndarray, allowed: int | np.ndarray = 0xFF) -> np.ndarray:
    """Every node reachable from ``start`` by following ``neighbours`` (within ``allowed``), start included."""
    reached = start & allowed
    for _ in range(neighbours.shape[1]):
        before = reached
        for v in range(neighbours.shape[1]):
            reached = reached | (neighbours[:, v] & allowed) * ((reached >> v) & 1)
        if np.array_equal(before, reached):
            break
    return reached


def _acyclic(adj: np.ndarray) -> np.ndarray:
    _, children = _masks(adj)
    ok = np.ones(len(adj), dtype=bool)
    for v in range(adj.shape[-1]):
        ok &= (_spread(children, children[:, v]) >> v) & 1 == 0
    return ok


@functools.cache
def queries(n: int) -> tuple[tuple[int, int, tuple[int, ...]], ...]:
    """Every (x, y, Z) with x < y and Z a subset of the other variables, in the premise's sort order."""
    out = []
    for x, y in itertools.combinations(range(n), 2):
        rest = [v for v in range(n) if v not in (x, y)]
        for size in range(len(rest) + 1):
            out.extend((x, y, z) for z in itertools.combinations(rest, size))
    return tuple(sorted(out))


def d_separations(adj: np.ndarray) -> np.ndarray:
    """sig[m, q]: x and y are d-separated given Z in DAG m, for every query q of ``queries(n)``.

    The moralisation criterion (Lauritzen et al. 1990): x and y are d-separated by Z iff they are
    disconnected in the moral graph of the ancestral set of {x, y} | Z once Z is removed."""
    n = adj.shape[-1]
    parents, children = _masks(adj)
    out = np.zeros((len(adj), len(queries(n))), dtype=bool)
    for q, (x, y, z) in enumerate(queries(n)):
        zbits = sum(1 << v for v in z)
        ancestral = _spread(parents, np.full(len(adj), (1 << x) | (1 << y) | zbits, dtype=np.uint8))
        moral = np.empty_like(parents)  # neighbours in the moral graph of the ancestral set
        for v in range(n):
            spouses = np.zeros_like(ancestral)
            for c in range(n):
                spouses |= parents[:, c] * ((children[:, v] & ancestral) >> c & 1)
            moral[:, v] = parents[:, v] | children[:, v] | spouses
        reached = _spread(moral, np.full(len(adj), 1 << x, dtype=np.uint8), ancestral & ~np.uint8(zbits))
        out[:, q] = (reached >> y) & 1 == 0
    return out


def relations(adj: np.ndarray) -> np.ndarray:
    """rel[m, kind, x, y] for the four kinds EDGE, INDIRECT, COLLIDER, CONFOUNDER (see module doc)."""
    m, n = adj.shape[0], adj.shape[-1]
    parents, children = _masks(adj)
    everything = (1 << n) - 1

    def strict(neighbours: np.ndarray, u: int, avoid: int) -> np.ndarray:
        """Nodes reached from u by >= 1 step along ``neighbours`` through nodes other than ``avoid``."""
        allowed = everything & ~(1 << avoid) if avoid >= 0 else everything
        return _spread(neighbours, neighbours[:, u], np.uint8(allowed))

    out = np.zeros((m, 4, n, n), dtype=bool)
    out[:, EDGE] = adj
    for x in range(n):
        # Indirect effects of x: descendants of x's children.
        indirect = np.zeros(m, dtype=np.uint8)
        for c in range(n):
            indirect |= strict(children, c, -1) * ((children[:, x] >> c) & 1)
        for y in range(n):
            if x == y:
                continue
            out[:, INDIRECT, x, y] = (indirect >> y) & 1 == 1
            out[:, COLLIDER, x, y] = strict(children, x, y) & strict(children, y, x) != 0
            out[:, CONFOUNDER, x, y] = strict(parents, x, y) & strict(parents, y, x) != 0
    return out


def _orientations(n: int, pairs: Sequence[tuple[int, int]], choices: int) -> np.ndarray:
    """Every assignment of each pair to absent (2), i -> j (0) or j -> i (1): ``choices`` 2 or 3."""
    codes = np.arange(choices ** len(pairs))
    digits = (codes[:, None] // choices ** np.arange(len(pairs))) % choices
    adj = np.zeros((len(codes), n, n), dtype=bool)
    for p, (i, j) in enumerate(pairs):
        adj[:, i, j] = digits[:, p] == 0
        adj[:, j, i] = digits[:, p] == 1
    return adj[_acyclic(adj)]


@dataclass(frozen=True)
class Enumeration:
    """Every labelled DAG over n nodes, its equivalence class (by d-separation signature) and, per
    class, which relations hold in all of its members."""

    adj: np.ndarray  # (M, n, n)
    signatures: np.ndarray  # (K, Q) one row per class
    class_of: np.ndarray  # (M,) class index of each DAG
    valid: np.ndarray  # (K, 4, n, n) relation holds in every DAG of the class


@functools.cache
def enumerate_dags(n: int) -> Enumeration:
    """All labelled DAGs over ``n`` <= 5 nodes grouped into Markov equivalence classes (cached)."""
    if not 1 <= n <= MAX_ENUMERATED:
        raise ValueError(f"can enumerate DAGs over 1 to {MAX_ENUMERATED} nodes, not {n}")
    adj = _orientations(n, list(itertools.combinations(range(n), 2)), 3)
    signatures, class_of = np.unique(d_separations(adj), axis=0, return_inverse=True)
    class_of = class_of.reshape(-1)
    order = np.argsort(class_of, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(class_of[order]) != 0])
    valid = np.logical_and.reduceat(relations(adj)[order], starts, axis=0)
    return Enumeration(adj, signatures, class_of, valid)


# --- text ----------------------------------------------------------------------------------------------------


def _list_text(names: Sequence[str]) -> str:
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def premise_text(signature: np.ndarray, names: Sequence[str]) -> str:
    """The paper's premise for a d-separation signature over ``names``."""
    n = len(names)
    separated = [q for q, holds in zip(queries(n), signature, strict=True) if holds]
    marginal = {(x, y) for x, y, z in separated if not z}
    correlations = [
        f"{names[x]} correlates with {names[y]}."
        for x, y in itertools.combinations(range(n), 2)
        if (x, y) not in marginal
    ]
    independences = [
        f"{names[x]} and {names[y]} are independent given {_list_text([names[v] for v in z])}."
        if z
        else f"{names[x]} is independent of {names[y]}."
        for x, y, z in separated
    ]
    text = (
        f"Suppose there is a closed system of {n} variables, {_list_text(list(names))}. "
        f"All the statistical relations among these {n} variables are as follows: "
    )
    body = " ".join(correlations)
    if correlations and independences:
        body += " However, "
    return text + body + " ".join(independences)


def graph_text(adj: np.ndarray, names: Sequence[str]) -> str:
    edges = [f"{names[i]}->{names[j]}" for i, j in zip(*np.nonzero(adj), strict=True)]
    return ", ".join(edges) if edges else "(no edges)"


def hypothesis_text(relation: str, x: str, y: str, rng: np.random.Generator) -> str:
    """The hypothesis for ``relation`` on the pair (x, y), x before y, phrased as the paper does:
    the two indirect-cause templates are used interchangeably and symmetric pairs in random order."""
    kind, swap = _KIND_OF[relation]
    a, b = (y, x) if swap else (x, y)
    if kind == EDGE:
        return EDGE_TEXT.format(a=a, b=b)
    if kind == INDIRECT:
        return INDIRECT_TEXTS[int(rng.integers(2))].format(a=a, b=b)
    if rng.random() < 0.5:
        a, b = b, a
    return (COLLIDER_TEXT if kind == COLLIDER else CONFOUNDER_TEXT).format(a=a, b=b)


def split_input(text: str) -> tuple[str, str]:
    """(premise, hypothesis) of a "Premise: ...\\nHypothesis: ..." input."""
    head, sep, hypothesis = text.partition("Hypothesis:")
    head = head.strip()
    if not sep or not head.startswith("Premise:"):
        raise ValueError("expected 'Premise: ...' followed by 'Hypothesis: ...'")
    return head.removeprefix("Premise:").strip(), hypothesis.strip()


def parse_premise(
    premise: str,
) -> tuple[tuple[str, ...], set[frozenset[str]], set[tuple[frozenset[str], frozenset[str]]]]:
    """(variable names in order, correlated pairs, independences as (pair, conditioning set))."""
    match = _PREMISE.fullmatch(premise.strip())
    if not match:
        raise ValueError("premise does not start 'Suppose there is a closed system of N variables, ...'")
    names = tuple(v.strip() for v in re.split(r",|\band\b", match.group(2)) if v.strip())
    if len(names) != int(match.group(1)) or len(set(names)) != len(names):
        raise ValueError(f"premise announces {match.group(1)} variables but lists {', '.join(names)}")
    correlated: set[frozenset[str]] = set()
    independent: set[tuple[frozenset[str], frozenset[str]]] = set()
    for sentence in re.split(r"(?<=\.)\s+", match.group(3).strip()):
        sentence = sentence.strip().removeprefix("However,").strip().removesuffix(".")
        if not sentence:
            continue
        if m := _CORRELATES.fullmatch(sentence):
            used, pair, z = m.groups(), frozenset(m.groups()), frozenset()
            correlated.add(pair)
        elif m := _CONDITIONAL.fullmatch(sentence):
            x, y = m.group(1), m.group(2) or m.group(3)
            z = frozenset(v.strip() for v in re.split(r",|\band\b", m.group(4)) if v.strip())
            used, pair = (x, y, *z), frozenset((x, y))
            independent.add((pair, z))
        elif m := _MARGINAL.fullmatch(sentence):
            used, pair, z = m.groups(), frozenset(m.groups()), frozenset()
            independent.add((pair, z))
        else:
            raise ValueError(f"unrecognised premise statement {sentence!r}")
        if unknown := set(used) - set(names):
            raise ValueError(f"premise statement {sentence!r} names unknown variable(s) {sorted(unknown)}")
        if len(pair) != 2 or pair & z:
            raise ValueError(f"premise statement {sentence!r} relates a variable to itself")
    return names, correlated, independent


def parse_hypothesis(hypothesis: str) -> tuple[int, str, str]:
    """(kind, a, b): EDGE/INDIRECT read a causes b; COLLIDER/CONFOUNDER are symmetric."""
    sentence = hypothesis.strip().removesuffix(".")
    for kind, pattern in _HYPOTHESIS_PATTERNS:
        if m := re.fullmatch(pattern, sentence):
            return kind, m.group(1), m.group(2)
    raise ValueError(f"hypothesis {hypothesis!r} matches none of the Corr2Cause templates")


def relation_of(text: str) -> str:
    """The relation name of an input's hypothesis (parent vs child, ancestor vs descendant: by
    whether the cause comes first in the premise's list of variables, as the generator orders them)."""
    premise, hypothesis = split_input(text)
    kind, a, b = parse_hypothesis(hypothesis)
    if kind in (COLLIDER, CONFOUNDER):
        return "has_collider" if kind == COLLIDER else "has_confounder"
    names = parse_premise(premise)[0]
    if a not in names or b not in names or a == b:
        raise ValueError(f"hypothesis relates {a} and {b}, which are not two of the variables {', '.join(names)}")
    forward = names.index(a) < names.index(b)
    if kind == EDGE:
        return "parent" if forward else "child"
    return "non_parent_ancestor" if forward else "non_child_descendant"


def n_variables_of(text: str) -> int:
    match = re.search(r"closed system of (\d+) variables?", text)
    if not match:
        raise ValueError("no 'closed system of N variables' in the premise")
    return int(match.group(1))


# --- the generator -------------------------------------------------------------------------------------------


def generate(cfg: Corr2CauseGenConfig) -> list[Corr2CauseRow]:
    """Corr2Cause items with MEC labels, deterministic in ``cfg.seed``."""
    rng = np.random.default_rng(cfg.seed)
    used: dict[int, set[int]] = {n: set() for n in cfg.n_variables}
    rows: list[Corr2CauseRow] = []
    for _ in range(cfg.n_graphs):
        open_ns = [n for n in cfg.n_variables if not cfg.unique_premises or len(used[n]) < N_CLASSES[n]]
        n = int(rng.choice(open_ns))
        enum = enumerate_dags(n)
        free = np.setdiff1d(np.arange(len(enum.signatures)), sorted(used[n])) if cfg.unique_premises else None
        k = int(rng.choice(free)) if free is not None else int(rng.integers(len(enum.signatures)))
        used[n].add(k)
        dag = int(rng.choice(np.flatnonzero(enum.class_of == k)))
        names = VARIABLE_NAMES[:n]
        premise = premise_text(enum.signatures[k], names)
        graph = graph_text(enum.adj[dag], names)
        hypotheses = [(x, y, r) for x, y in itertools.combinations(range(n), 2) for r in RELATIONS]
        if cfg.hypotheses_per_graph is not None:
            keep = np.sort(rng.choice(len(hypotheses), cfg.hypotheses_per_graph, replace=False))
            hypotheses = [hypotheses[i] for i in keep]
        for x, y, relation in hypotheses:
            kind, swap = _KIND_OF[relation]
            label = bool(enum.valid[k, kind, y, x] if swap else enum.valid[k, kind, x, y])
            text = f"Premise: {premise}\nHypothesis: {hypothesis_text(relation, names[x], names[y], rng)}"
            rows.append(Corr2CauseRow(text, int(label), relation, n, graph))
    return rows


def write_corr2cause(rows: Iterable[Corr2CauseRow], path: str | Path) -> Path:
    """The published layout: a CSV with ``input`` and ``label`` first (JSON lines for ``.jsonl``)."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return write_jsonl(path, (asdict(r) for r in rows))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")  # written whole, then moved: never half a file
    with tmp.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[f.name for f in fields(Corr2CauseRow)])
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    os.replace(tmp, path)
    return path


# --- the exact solver ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _entailed(premise: str) -> tuple[tuple[str, ...], np.ndarray | None]:
    """(names, valid[kind, x, y] over every DAG matching the premise exactly; None if no DAG does)."""
    names, correlated, independent = parse_premise(premise)
    n = len(names)
    index = {v: i for i, v in enumerate(names)}
    stated = np.zeros(len(queries(n)), dtype=bool)
    position = {(x, y, z): q for q, (x, y, z) in enumerate(queries(n))}
    for pair, z in independent:
        x, y = sorted(index[v] for v in pair)
        stated[position[(x, y, tuple(sorted(index[v] for v in z)))]] = True
    if any((pair, frozenset()) in independent for pair in correlated):
        return names, None  # a pair both correlated and independent: no DAG says that
    separated_ever = {frozenset(index[v] for v in pair) for pair, _ in independent}
    skeleton = [p for p in itertools.combinations(range(n), 2) if frozenset(p) not in separated_ever]
    if len(skeleton) > MAX_SOLVER_EDGES:
        raise ValueError(f"the premise leaves {len(skeleton)} pairs adjacent; the solver orients at most 15")
    # A DAG's d-separations determine its skeleton (adjacent pairs are never separated, others are
    # separated by a parent set), so only orientations of the premise's skeleton can match it.
    candidates = _orientations(n, skeleton, 2)
    matching = candidates[(d_separations(candidates) == stated).all(1)]
    if not len(matching):
        return names, None
    return names, relations(matching).all(0)


def solve(text: str) -> int:
    """1 iff the hypothesis holds in every DAG whose d-separations are exactly the premise's
    statements (0 when no DAG is consistent with the premise). Reads nothing but ``text``."""
    premise, hypothesis = split_input(text.removesuffix(QUESTION))
    names, valid = _entailed(premise)
    kind, a, b = parse_hypothesis(hypothesis)
    if a not in names or b not in names or a == b:
        raise ValueError(f"hypothesis relates {a} and {b}, which are not two of the variables {', '.join(names)}")
    return int(valid is not None and bool(valid[kind, names.index(a), names.index(b)]))
