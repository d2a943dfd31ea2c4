"""Corr2Cause: d-separation and equivalence-class answers, the generator, the independent exact
solver (known answers, agreement with the generator's labels), the reader on files as published
and on awkward files, and the metrics on hand-computed log-likelihoods."""

from __future__ import annotations

import ast
import csv
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from causal_llm.benchmarks import corr2cause_gen as gen
from causal_llm.benchmarks import corr2cause_solver as solver
from causal_llm.benchmarks.base import BenchmarkFormatError, Item, RowErrors
from causal_llm.benchmarks.corr2cause import QUESTION, RELATIONS, SOLVER_VARIANT, Corr2Cause, solver_metrics
from causal_llm.benchmarks.corr2cause_gen import (
    COLLIDER,
    CONFOUNDER,
    EDGE,
    INDIRECT,
    N_CLASSES,
    Corr2CauseGenConfig,
    d_separations,
    enumerate_dags,
    generate,
    premise_text,
    queries,
    relation_of,
    relations,
    write_corr2cause,
)

FMT = Corr2Cause()
NAMES = "ABCDE"


def dag(n: int, edges: str) -> np.ndarray:
    """A stack of one DAG from "A>B B>C"."""
    adj = np.zeros((1, n, n), dtype=bool)
    for edge in edges.split():
        adj[0, NAMES.index(edge[0]), NAMES.index(edge[2])] = True
    return adj


def separated(adj: np.ndarray, x: str, y: str, given: str = "") -> bool:
    n = adj.shape[-1]
    q = queries(n).index((NAMES.index(x), NAMES.index(y), tuple(sorted(NAMES.index(v) for v in given))))
    return bool(d_separations(adj)[0, q])


def listed(names: str) -> str:
    """ "A, B and C" from "ABC", as the premise lists variables."""
    return f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else names


def item_text(n: int, statements: str, hypothesis: str) -> str:
    """An input as published: "Premise: <header> <statements>\nHypothesis: <hypothesis>"."""
    names = listed("ABCDEF"[:n])
    return (
        f"Premise: Suppose there is a closed system of {n} variables, {names}. All the statistical relations "
        f"among these {n} variables are as follows: {statements}\nHypothesis: {hypothesis}"
    )


def premise_of(dag_: nx.DiGraph) -> str:
    """The closed-world statements of a networkx DAG over A, B, ..., written here rather than by the
    generator: every correlated pair, then every d-separation, sorted as the paper sorts them."""
    names = sorted(dag_)
    correlated, independent = [], []
    for x, y in itertools.combinations(names, 2):
        rest = [v for v in names if v not in (x, y)]
        subsets = [z for k in range(len(rest) + 1) for z in itertools.combinations(rest, k)]
        for z in sorted(subsets):
            if nx.is_d_separator(dag_, {x}, {y}, set(z)):
                independent.append(
                    f"{x} and {y} are independent given {listed(''.join(z))}." if z else f"{x} is independent of {y}."
                )
        if not nx.is_d_separator(dag_, {x}, {y}, set()):
            correlated.append(f"{x} correlates with {y}.")
    return " ".join(correlated) + (" However, " if correlated and independent else "") + " ".join(independent)


def edge_sets(text: str) -> set[frozenset[tuple[str, str]]]:
    premise, _ = solver.split_input(text)
    return {frozenset(g.edges) for g in solver.equivalence_class(solver.parse_premise(premise))}


CHAIN = "A correlates with B. A correlates with C. B correlates with C. However, A and C are independent given B."
V_STRUCTURE = "A correlates with C. B correlates with C. However, A is independent of B."
# A -> C <- B, C -> D: the v-structure forces C -> D.
FORCED = (
    "A correlates with C. A correlates with D. B correlates with C. B correlates with D. C correlates with D. "
    "However, A is independent of B. A and D are independent given B and C. A and D are independent given C. "
    "B and D are independent given A and C. B and D are independent given C."
)


def read(path: Path, strict: bool = False) -> tuple[list[Item], RowErrors]:
    rows = RowErrors(path, FMT.name, FMT.expects, strict=strict)
    return FMT.read(path, rows), rows


# --- d-separation and relations -------------------------------------------------------------------------------


def test_d_separation_known_cases() -> None:
    chain, collider, fork = dag(3, "A>B B>C"), dag(3, "A>C B>C"), dag(3, "B>A B>C")
    assert separated(chain, "A", "C", "B") and not separated(chain, "A", "C")
    assert separated(collider, "A", "B") and not separated(collider, "A", "B", "C")
    assert separated(fork, "A", "C", "B") and not separated(fork, "A", "C")
    # A descendant of the collider opens it too.
    assert not separated(dag(4, "A>C B>C C>D"), "A", "B", "D")


def test_d_separation_matches_networkx_on_every_dag_over_four_nodes() -> None:
    adj = enumerate_dags(4).adj
    sig = d_separations(adj)
    for m in range(len(adj)):
        g = nx.DiGraph(list(zip(*np.nonzero(adj[m]), strict=True)))
        g.add_nodes_from(range(4))
        expected = [nx.is_d_separator(g, {x}, {y}, set(z)) for x, y, z in queries(4)]
        assert sig[m].tolist() == expected, sorted(g.edges)


def test_relations_follow_the_path_definitions_on_every_dag_over_four_nodes() -> None:
    """Collider: a path X -> ... -> C <- ... <- Y; confounder: X <- ... <- C -> ... -> Y; indirect: a
    directed path of length >= 2 (as the released generator enumerates simple paths)."""
    adj = enumerate_dags(4).adj
    rel = relations(adj)
    for m in range(len(adj)):
        g = nx.DiGraph(list(zip(*np.nonzero(adj[m]), strict=True)))
        g.add_nodes_from(range(4))
        for x, y in itertools.permutations(range(4), 2):
            shapes = set()
            for path in nx.all_simple_paths(g.to_undirected(), x, y):
                forward = [g.has_edge(a, b) for a, b in itertools.pairwise(path)]
                for cut in range(1, len(forward)):
                    if all(forward[:cut]) and not any(forward[cut:]):
                        shapes.add(COLLIDER)
                    if not any(forward[:cut]) and all(forward[cut:]):
                        shapes.add(CONFOUNDER)
                if len(forward) > 1 and all(forward):
                    shapes.add(INDIRECT)
            assert bool(rel[m, EDGE, x, y]) == g.has_edge(x, y)
            for kind in (INDIRECT, COLLIDER, CONFOUNDER):
                assert bool(rel[m, kind, x, y]) == (kind in shapes), (sorted(g.edges), x, y, kind)


def test_relation_semantics_on_small_graphs() -> None:
    rel = relations(dag(4, "A>B B>C D>A D>C"))[0]
    a, b, c, d = range(4)
    assert rel[INDIRECT, a, c] and not rel[INDIRECT, a, b]  # A -> B -> C; A -> B is direct only
    assert rel[COLLIDER, a, d]  # A -> B -> C <- D: an indirect common effect
    assert rel[COLLIDER, b, d] and rel[COLLIDER, d, b]  # B -> C <- D, symmetric
    assert not rel[COLLIDER, a, b]  # C is reached from A only through B
    assert rel[CONFOUNDER, a, c]  # A <- D -> C
    assert rel[CONFOUNDER, b, c]  # B <- A <- D -> C: an indirect common cause
    assert not rel[CONFOUNDER, b, d]  # D causes B only through A, and nothing causes D


def test_dag_and_equivalence_class_counts() -> None:
    assert [len(enumerate_dags(n).adj) for n in (2, 3, 4, 5)] == [3, 25, 543, 29281]
    assert {n: len(enumerate_dags(n).signatures) for n in (2, 3, 4, 5)} == N_CLASSES


def test_equivalence_classes_are_skeleton_plus_v_structures() -> None:
    enum = enumerate_dags(4)
    classes: dict[tuple, set[int]] = {}
    for adj, k in zip(enum.adj, enum.class_of, strict=True):
        skeleton = frozenset(frozenset(p) for p in zip(*np.nonzero(adj), strict=True))
        vs = frozenset(
            (i, j, c)
            for i, j in itertools.combinations(range(4), 2)
            for c in range(4)
            if adj[i, c] and adj[j, c] and not adj[i, j] and not adj[j, i]
        )
        classes.setdefault((skeleton, vs), set()).add(int(k))
    assert len(classes) == len(enum.signatures) and all(len(v) == 1 for v in classes.values())


# --- the independent exact solver ----------------------------------------------------------------------------


def ask(n: int, statements: str, hypothesis: str) -> int:
    return solver.solve(item_text(n, statements, hypothesis))


def test_solver_chain_known_answers() -> None:
    """A - B - C with A _||_ C | B: the class is A -> B -> C, A <- B <- C and A <- B -> C."""
    assert edge_sets(item_text(3, CHAIN, "A directly causes B.")) == {
        frozenset({("A", "B"), ("B", "C")}),
        frozenset({("B", "A"), ("C", "B")}),
        frozenset({("B", "A"), ("B", "C")}),
    }
    assert ask(3, CHAIN, "A directly causes B.") == 0  # false in A <- B <- C
    assert ask(3, CHAIN, "B directly causes A.") == 0  # false in A -> B -> C
    assert ask(3, CHAIN, "A causes something else which causes C.") == 0
    assert ask(3, CHAIN, "There exists at least one collider (i.e., common effect) of A and C.") == 0
    assert ask(3, CHAIN, "There exists at least one confounder (i.e., common cause) of A and C.") == 0  # fork only


def test_solver_v_structure_known_answers() -> None:
    """A -> C <- B is alone in its class: every claim about it is decided."""
    assert edge_sets(item_text(3, V_STRUCTURE, "A directly causes C.")) == {frozenset({("A", "C"), ("B", "C")})}
    assert ask(3, V_STRUCTURE, "A directly causes C.") == 1
    assert ask(3, V_STRUCTURE, "B directly causes C.") == 1
    assert ask(3, V_STRUCTURE, "C directly causes A.") == 0
    assert ask(3, V_STRUCTURE, "A directly causes B.") == 0
    assert ask(3, V_STRUCTURE, "There exists at least one collider (i.e., common effect) of B and A.") == 1
    assert ask(3, V_STRUCTURE, "There exists at least one collider (i.e., common effect) of A and C.") == 0
    assert ask(3, V_STRUCTURE, "There exists at least one confounder (i.e., common cause) of A and B.") == 0
    assert ask(3, V_STRUCTURE, "A causes something else which causes B.") == 0


def test_solver_propagated_orientation_known_answers() -> None:
    # The hand-written premise is the published text of A -> C <- B, C -> D (the generator writes the same).
    assert premise_text(d_separations(dag(4, "A>C B>C C>D"))[0], "ABCD").endswith(FORCED)
    assert edge_sets(item_text(4, FORCED, "A directly causes D.")) == {frozenset({("A", "C"), ("B", "C"), ("C", "D")})}
    assert ask(4, FORCED, "C directly causes D.") == 1
    assert ask(4, FORCED, "A directly causes D.") == 0
    assert ask(4, FORCED, "A causes something else which causes D.") == 1
    assert ask(4, FORCED, "A is a cause for D, but not a direct one.") == 1
    assert ask(4, FORCED, "D is a cause for A, but not a direct one.") == 0
    assert ask(4, FORCED, "There exists at least one collider (i.e., common effect) of A and B.") == 1
    # D is reached from A only through C: a descendant of both, but no collider of A and C.
    assert ask(4, FORCED, "There exists at least one collider (i.e., common effect) of A and C.") == 0
    assert ask(4, FORCED, "There exists at least one confounder (i.e., common cause) of C and D.") == 0


def test_solver_on_six_variables() -> None:
    """A -> C <- B, C -> D -> E -> F: the v-structure orients the whole chain (the paper's largest N)."""
    truth = nx.DiGraph([("A", "C"), ("B", "C"), ("C", "D"), ("D", "E"), ("E", "F")])
    statements = premise_of(truth)
    assert edge_sets(item_text(6, statements, "E directly causes F.")) == {frozenset(truth.edges)}
    assert ask(6, statements, "E directly causes F.") == 1
    assert ask(6, statements, "F directly causes E.") == 0
    assert ask(6, statements, "A causes something else which causes F.") == 1
    assert ask(6, statements, "B is a cause for E, but not a direct one.") == 1
    assert ask(6, statements, "There exists at least one collider (i.e., common effect) of A and B.") == 1
    assert ask(6, statements, "There exists at least one confounder (i.e., common cause) of D and F.") == 0


def test_solver_reads_the_paraphrased_hypotheses() -> None:
    assert ask(4, FORCED, "A directly affects C.") == 1
    assert ask(4, FORCED, "A influences D through some mediator(s).") == 1
    assert ask(4, FORCED, "D influences A through some mediator(s).") == 0
    assert ask(4, FORCED, "A and B together cause some other variable(s).") == 1
    assert ask(4, FORCED, "Some variable(s) cause(s) both A and B.") == 0


def test_solver_on_contradictory_and_unreadable_text() -> None:
    contradictory = item_text(2, "A correlates with B. However, A is independent of B.", "A directly causes B.")
    assert solver.solve(contradictory) == 0
    # Closed world: A and C are neither said to correlate nor to be independent, which no DAG says.
    assert ask(3, V_STRUCTURE.replace("A correlates with C. ", ""), "A directly causes C.") == 0
    with pytest.raises(ValueError, match="templates"):
        solver.solve(contradictory.replace("A directly causes B.", "A likes B."))
    with pytest.raises(ValueError, match="unknown variable"):
        solver.solve(contradictory.replace("A correlates with B.", "A correlates with Q."))
    with pytest.raises(ValueError, match="not two of the variables"):
        solver.solve(contradictory.replace("A directly causes B.", "A directly causes A."))
    seven = "Premise: Suppose there is a closed system of 7 variables, A, B, C, D, E, F and G. All the statistical "
    with pytest.raises(ValueError, match="at most 6"):
        solver.solve(seven + "relations among these 7 variables are as follows: \nHypothesis: A directly causes B.")


@pytest.mark.parametrize("n", [3, 4])
def test_equivalence_class_is_the_generators_on_every_class(n: int) -> None:
    """Skeleton pruning loses nothing: for every class over n labelled variables, the solver finds
    exactly the DAGs the generator groups by enumerating all of them."""
    enum, names = enumerate_dags(n), NAMES[:n]
    for k in range(len(enum.signatures)):
        expected = {
            frozenset((names[i], names[j]) for i, j in zip(*np.nonzero(enum.adj[m]), strict=True))
            for m in np.flatnonzero(enum.class_of == k)
        }
        assert edge_sets(f"Premise: {premise_text(enum.signatures[k], names)}\nHypothesis: x") == expected


def agrees(predict: Callable[[str], int], rows: list[gen.Corr2CauseRow]) -> bool:
    return all(predict(r.input) == r.label for r in rows)


def test_solver_reproduces_the_generators_labels() -> None:
    """Two implementations that share no code agree on every generated item; every relation has
    valid and invalid items, so neither a constant nor an answer by relation alone can pass."""
    rows = generate(Corr2CauseGenConfig(n_graphs=40, seed=3))
    truth = np.array([r.label for r in rows])
    assert 0 < truth.mean() < 0.5  # the paper's imbalance: a minority of hypotheses are valid
    for relation in RELATIONS:
        assert {r.label for r in rows if r.relation == relation} == {0, 1}, relation
    assert agrees(solver.solve, rows)
    assert not agrees(lambda _: 0, rows) and not agrees(lambda _: 1, rows)
    by_relation = {rel: max((0, 1), key=[r.label for r in rows if r.relation == rel].count) for rel in RELATIONS}
    assert not agrees(lambda text: by_relation[gen.relation_of(text)], rows)


def test_solver_path_shares_no_code_with_the_generator() -> None:
    for module in ("corr2cause", "corr2cause_solver"):
        tree = ast.parse((Path(solver.__file__).parent / f"{module}.py").read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any("corr2cause_gen" in name for name in imported), module
    assert set(RELATIONS) == set(gen.RELATIONS)  # the reader validates the generator's relation column


# --- the generator --------------------------------------------------------------------------------------------


def test_premise_text_is_the_papers() -> None:
    chain = premise_text(d_separations(dag(3, "A>B B>C"))[0], "ABC")
    assert chain == (
        "Suppose there is a closed system of 3 variables, A, B and C. All the statistical relations among these 3 "
        "variables are as follows: A correlates with B. A correlates with C. B correlates with C. However, A and "
        "C are independent given B."
    )
    collider = premise_text(d_separations(dag(3, "A>C B>C"))[0], "ABC")
    assert collider.endswith("follows: A correlates with C. B correlates with C. However, A is independent of B.")


def test_generation_is_seeded_and_complete() -> None:
    cfg = Corr2CauseGenConfig(n_variables=(3, 4), n_graphs=12, seed=7)
    rows = generate(cfg)
    assert rows == generate(cfg)
    assert rows != generate(Corr2CauseGenConfig(n_variables=(3, 4), n_graphs=12, seed=8))
    premises = {r.input.split("\nHypothesis:")[0] for r in rows}
    assert len(premises) == 12
    per_premise = {p: [r for r in rows if r.input.startswith(p + "\n")] for p in premises}
    for group in per_premise.values():
        n = group[0].n_variables
        assert len(group) == 6 * n * (n - 1) // 2
        assert {r.relation for r in group} == {
            "parent",
            "non_parent_ancestor",
            "child",
            "non_child_descendant",
            "has_collider",
            "has_confounder",
        }
    assert all(r.generator_version == "1" and r.relation == relation_of(r.input) for r in rows)


def test_unique_premises_exhaust_the_classes_and_subsampling() -> None:
    rows = generate(Corr2CauseGenConfig(n_variables=(3,), n_graphs=11, seed=0, hypotheses_per_graph=2))
    assert len(rows) == 22
    assert len({r.input.split("\nHypothesis:")[0] for r in rows}) == 11


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"n_variables": (3, 6)}, "between 2 and 5"),
        ({"n_variables": ()}, "non-empty"),
        ({"n_variables": (3, 3)}, "list each N once"),
        ({"n_graphs": 0}, "positive integer"),
        ({"seed": -1}, "non-negative"),
        ({"n_variables": (3,), "n_graphs": 12}, "unique_premises=false"),
        ({"n_variables": (3, 4), "hypotheses_per_graph": 19}, "from 1 to 18"),
    ],
)
def test_config_validation_says_what_to_change(kwargs: dict, hint: str) -> None:
    with pytest.raises(ValueError, match=hint):
        Corr2CauseGenConfig(**kwargs)


def test_repeated_premises_when_allowed() -> None:
    rows = generate(Corr2CauseGenConfig(n_variables=(2,), n_graphs=5, unique_premises=False, hypotheses_per_graph=1))
    assert len(rows) == 5


# --- the loader -----------------------------------------------------------------------------------------------


def test_round_trip_csv_and_jsonl(tmp_path: Path) -> None:
    rows = generate(Corr2CauseGenConfig(n_variables=(3,), n_graphs=3, seed=1))
    for name in ("gen.csv", "gen.jsonl"):
        items, errors = read(write_corr2cause(rows, tmp_path / name))
        assert not errors.malformed and len(items) == len(rows)
        for item, r in zip(items, rows, strict=True):
            assert item.context == r.input + QUESTION and item.choices == (" yes", " no")
            assert item.label == (0 if r.label == 1 else 1)
            assert item.meta == {"relation": r.relation, "n_variables": 3}
    with (tmp_path / "gen.csv").open(encoding="utf-8", newline="") as f:
        assert next(csv.reader(f))[:2] == ["input", "label"]


# Rows as the published test file has them (header input,label,num_variables,template; the input quoted,
# its newline kept). The template names the sentence: "is a cause for ..., but not a direct one" is
# "non-child descendant" and "causes something else which causes" is "non-parent ancestor" whichever
# variable comes first.
PUBLISHED = [
    (3, V_STRUCTURE, "A is a cause for C, but not a direct one.", 0, "non-child descendant"),
    (3, V_STRUCTURE, "C causes something else which causes B.", 0, "non-parent ancestor"),
    (3, V_STRUCTURE, "B directly causes C.", 1, "parent"),
    (3, V_STRUCTURE, "C directly causes A.", 0, "child"),
    (3, V_STRUCTURE, "There exists at least one collider (i.e., common effect) of B and A.", 1, "has_collider"),
    (3, V_STRUCTURE, "There exists at least one confounder (i.e., common cause) of A and B.", 0, "has_confounder"),
    (4, FORCED, "A is a cause for D, but not a direct one.", 1, "non-child descendant"),
    (4, FORCED, "D is a cause for A, but not a direct one.", 0, "non-child descendant"),
    (4, FORCED, "B causes something else which causes D.", 1, "non-parent ancestor"),
    (4, FORCED, "D causes something else which causes B.", 0, "non-parent ancestor"),
    (4, FORCED, "C directly causes D.", 1, "parent"),
]


def write_published(path: Path, template_column: bool = True) -> Path:
    header = "input,label,num_variables,template" if template_column else "input,label"
    lines = [
        f'"{item_text(n, statements, hypothesis)}",{label}' + (f",{n},{template}" if template_column else "")
        for n, statements, hypothesis, label, template in PUBLISHED
    ]
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("template_column", [True, False])
def test_published_csv_relations(tmp_path: Path, template_column: bool) -> None:
    """The relation is the template column as published; without it, the hypothesis is read by the
    rule that column follows, and gives the same relations."""
    items, errors = read(write_published(tmp_path / "test.csv", template_column))
    assert not errors.malformed and len(items) == len(PUBLISHED)
    expected = [template.replace("-", "_").replace(" ", "_") for *_, template in PUBLISHED]
    assert [i.meta["relation"] for i in items] == expected
    assert [i.meta["n_variables"] for i in items] == [n for n, *_ in PUBLISHED]
    assert [i.label for i in items] == [0 if label == 1 else 1 for *_, label, _ in PUBLISHED]  # 1 = " no"
    # The word-order guess (the generator's relation_of) files 4 of the 11 under another relation.
    guessed = [relation_of(i.context.removesuffix(QUESTION)) for i in items]
    assert sum(g != e for g, e in zip(guessed, expected, strict=True)) == 4
    out = {r.metric: r for r in solver_metrics(items, SOLVER_VARIANT, "evaluate", n_resamples=20)}
    assert out["corr2cause/f1"].value == 1.0 and out["corr2cause/accuracy"].value == 1.0


def test_published_csv_with_an_unknown_template(tmp_path: Path) -> None:
    path = write_published(tmp_path / "test.csv")
    path.write_text(path.read_text(encoding="utf-8").replace(",3,child", ",3,sibling"), encoding="utf-8")
    items, errors = read(path)
    assert len(items) == len(PUBLISHED) - 1
    [bad] = errors.malformed
    assert bad.line == 8 and bad.reason.startswith("template: 'sibling' is not one of parent")


COLLIDER_PREMISE = (
    "Premise: Suppose there is a closed system of 3 variables, Ä, Ö and Ü. All the statistical relations among "
    "these 3 variables are as follows: Ä correlates with Ü. Ö correlates with Ü. However, Ä is independent of Ö."
)


def test_awkward_csv(tmp_path: Path) -> None:
    path = tmp_path / "test.csv"
    path.write_text(
        "\ufeffinput,label\n"  # 1
        f'"{COLLIDER_PREMISE}\nHypothesis: Ü directly causes Ä.",0\n'  # 2-3
        f'"{COLLIDER_PREMISE}\nHypothesis: ""Ä"", as they say, causes Ü.",1\n'  # 4-5
        f'"{COLLIDER_PREMISE}\nHypothesis: Ö directly causes Ü.",\n'  # 6-7: no label
        f'"{COLLIDER_PREMISE}\nHypothesis: Ö directly causes Ü.",2\n'  # 8-9
        '"Hypothesis: A directly causes B.",1\n'  # 10: no premise
        f'"{COLLIDER_PREMISE}\nHypothesis: Ö directly causes Ü."\n'  # 11-12: a field short
        f'"{COLLIDER_PREMISE}\nHypothesis: Ö directly causes Ü.",1,surplus\n'  # 13-14: a field too many
        f'"{COLLIDER_PREMISE}\nHypothesis: There exists at least one collider (i.e., common effect) of Ü and Ä.",1\n',
        encoding="utf-8",
    )
    items, errors = read(path)
    assert [i.id for i in items] == ["corr2cause-2", "corr2cause-4", "corr2cause-15"]
    assert [i.label for i in items] == [1, 0, 0]  # label 1 (valid) -> choice 0, " yes"
    assert [i.meta["relation"] for i in items] == ["child", "other", "has_collider"]
    assert all(i.meta["n_variables"] == 3 for i in items)
    assert '"Ä", as they say' in items[1].context
    assert [(m.line, m.reason.split(":")[0]) for m in errors.malformed] == [
        (6, "label"),
        (8, "label"),
        (10, "input"),
        (11, "label"),
        (13, "1 field(s) more than the header has"),
    ]
    assert "'2' is not 0" in errors.malformed[1].reason
    with pytest.raises(BenchmarkFormatError, match="test.csv:6"):
        read(path, strict=True)


def test_jsonl_with_a_broken_line(tmp_path: Path) -> None:
    good = {"input": f"{COLLIDER_PREMISE}\nHypothesis: Ä directly causes Ü.", "label": 1}
    path = tmp_path / "test.jsonl"
    path.write_text(
        "\n".join([json.dumps(good, ensure_ascii=False), "{not json", json.dumps({**good, "label": "x"})]) + "\n",
        encoding="utf-8",
    )
    items, errors = read(path)
    assert len(items) == 1 and items[0].meta == {"relation": "parent", "n_variables": 3} and items[0].label == 0
    assert [m.line for m in errors.malformed] == [2, 3]


@pytest.mark.parametrize(
    "content",
    [
        "sent_more,sent_less\na,b\n",
        '[{"given_info": "x", "question": "y", "answer": "yes"}]',
        '{"premise": "x"}\n',
        "",
    ],
)
def test_wrong_format(tmp_path: Path, content: str) -> None:
    path = tmp_path / "other.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match="not a corr2cause file"):
        read(path)


# --- metrics --------------------------------------------------------------------------------------------------


def _items(valid: list[int], relations_: list[str], ns: list[int]) -> list[Item]:
    return [
        Item(f"i{k}", "ctx", (" yes", " no"), 0 if v else 1, {"relation": r, "n_variables": n})
        for k, (v, r, n) in enumerate(zip(valid, relations_, ns, strict=True))
    ]


def test_metrics_on_hand_written_log_likelihoods() -> None:
    items = _items([1, 0, 1, 0], ["parent", "parent", "child", "child"], [3, 3, 4, 4])
    # yes/no LLs: TP, FP, a tie (predicted "no") on a valid item = FN, TN.
    lls = [np.array(x) for x in ([-1.0, -2.0], [-1.0, -3.0], [-2.0, -2.0], [-5.0, -1.0])]
    rows = {r.metric: r for r in FMT.metrics(items, lls, "base", "evaluate", n_resamples=50, seed=0)}
    assert rows["corr2cause/f1"].value == pytest.approx(0.5)  # 2 TP / (2 predicted + 2 true)
    assert rows["corr2cause/accuracy"].value == pytest.approx(0.5)
    assert rows["corr2cause/f1/relation=parent"].value == pytest.approx(2 / 3)
    assert rows["corr2cause/f1/relation=child"].value == 0.0
    assert rows["corr2cause/accuracy/n_variables=4"].value == pytest.approx(0.5)
    assert rows["corr2cause/f1/n_variables=3"].n == 2
    for r in rows.values():
        assert r.ci_low <= r.value <= r.ci_high and r.variant == "base" and r.stage == "evaluate"
    flipped = [ll[::-1] for ll in lls]
    again = {r.metric: r for r in FMT.metrics(items, flipped, "base", "evaluate", n_resamples=50)}
    assert again["corr2cause/accuracy"].value == pytest.approx(0.25)  # only the tie stays "no" (wrong)


def test_solver_metrics_reference_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = generate(Corr2CauseGenConfig(n_variables=(3, 4), n_graphs=6, seed=2))
    items, _ = read(write_corr2cause(rows, tmp_path / "gen.csv"))
    out = {r.metric: r for r in solver_metrics(items, SOLVER_VARIANT, "evaluate", n_resamples=20)}
    assert out["corr2cause/f1"].value == 1.0 and out["corr2cause/accuracy"].value == 1.0
    assert out["corr2cause/f1"].variant == "exact_solver"
    assert "corr2cause/accuracy/relation=has_collider" in out
    unreadable = Item("x", "Premise: nonsense\nHypothesis: A likes B." + QUESTION, (" yes", " no"), 0, {})
    [f1, acc] = solver_metrics([unreadable], SOLVER_VARIANT, "evaluate", n_resamples=5)
    assert f1.value == 0.0 and acc.value == 0.0  # predicted invalid, and the item is valid
    assert "could not read 1 of 1" in capsys.readouterr().err
