"""Structural causal models over discrete variables, with exact rung 1-3 queries.

Semantics follow DoWhy/pgmpy: the graph is a ``networkx.DiGraph``; ``do()`` returns a new model;
counterfactuals are abduction -> action -> prediction (Pearl, *Causality*, ch. 7).

Each node X with states 0..k-1 has one exogenous U_X ~ Uniform(0, 1) and the mechanism
X = min{i : U_X < cdf(i | parents)}. The cut points of all parent configurations split [0, 1) into
intervals on which X is a fixed function of its parents (a *response type*), so the model is a
finite distribution over response-type tuples and every query is an exact sum over it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Mechanism:
    """P(X | parents) as a table: parent states (in ``parents`` order) -> probabilities of X's states."""

    parents: tuple[str, ...]
    table: Mapping[tuple[int, ...], tuple[float, ...]]

    def __post_init__(self) -> None:
        for key, probs in self.table.items():
            if len(key) != len(self.parents):
                raise ValueError(f"table key {key} does not match parents {self.parents}")
            if min(probs) < 0 or abs(sum(probs) - 1.0) > 1e-9:
                raise ValueError(f"probabilities for parents={key} must be >= 0 and sum to 1, got {probs}")

    @property
    def n_states(self) -> int:
        return len(next(iter(self.table.values())))

    def cdf(self, parent_values: tuple[int, ...]) -> np.ndarray:
        return np.cumsum(self.table[parent_values])

    def response_types(self) -> list[tuple[float, dict[tuple[int, ...], int]]]:
        """(probability, {parent states: X}) for each interval of U_X between cut points."""
        cuts = sorted({0.0, 1.0, *(float(c) for key in self.table for c in self.cdf(key)[:-1])})
        types_ = []
        for lo, hi in itertools.pairwise(cuts):
            if hi - lo <= 1e-15:
                continue
            mid = (lo + hi) / 2
            response = {key: int(np.searchsorted(self.cdf(key), mid, side="right")) for key in self.table}
            types_.append((hi - lo, response))
        return types_


def bernoulli(parents: tuple[str, ...], p_one: Mapping[tuple[int, ...], float]) -> Mechanism:
    """A binary mechanism from P(X=1 | parents)."""
    return Mechanism(parents, {key: (1.0 - p, p) for key, p in p_one.items()})


def constant(value: int, n_states: int) -> Mechanism:
    return Mechanism((), {(): tuple(1.0 if i == value else 0.0 for i in range(n_states))})


class SCM:
    def __init__(self, mechanisms: Mapping[str, Mechanism]) -> None:
        self.mechanisms = dict(mechanisms)
        self.graph = nx.DiGraph()
        self.graph.add_nodes_from(self.mechanisms)
        for node, mech in self.mechanisms.items():
            for parent in mech.parents:
                if parent not in self.mechanisms:
                    raise ValueError(f"node '{node}' has unknown parent '{parent}'")
                self.graph.add_edge(parent, node)
        if not nx.is_directed_acyclic_graph(self.graph):
            raise ValueError("the causal graph has a cycle")
        self.order = list(nx.topological_sort(self.graph))

    def do(self, interventions: Mapping[str, int]) -> SCM:
        """The intervened model: each named node's mechanism replaced by a constant."""
        mechs = dict(self.mechanisms)
        for node, value in interventions.items():
            mechs[node] = constant(value, self.mechanisms[node].n_states)
        return SCM(mechs)

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        u = rng.random((n, len(self.order)))
        values: dict[str, np.ndarray] = {}
        for j, node in enumerate(self.order):
            mech = self.mechanisms[node]
            out = np.empty(n, dtype=np.int64)
            parent_rows = np.stack([values[p] for p in mech.parents], axis=1) if mech.parents else np.zeros((n, 0))
            for key in mech.table:
                rows = np.all(parent_rows == np.array(key), axis=1) if mech.parents else np.ones(n, bool)
                out[rows] = np.searchsorted(mech.cdf(key), u[rows, j], side="right")
            values[node] = out
        return pd.DataFrame(values)[list(self.mechanisms)]

    def _worlds(self) -> Iterator[tuple[float, dict[str, dict[tuple[int, ...], int]]]]:
        per_node = [self.mechanisms[node].response_types() for node in self.order]
        for combo in itertools.product(*per_node):
            weight = float(np.prod([w for w, _ in combo]))
            yield weight, {node: resp for node, (_, resp) in zip(self.order, combo, strict=True)}

    def _solve(self, world: Mapping[str, Mapping[tuple[int, ...], int]], do: Mapping[str, int]) -> dict[str, int]:
        values: dict[str, int] = {}
        for node in self.order:
            if node in do:
                values[node] = do[node]
            else:
                key = tuple(values[p] for p in self.mechanisms[node].parents)
                values[node] = world[node][key]
        return values

    def counterfactual(
        self, outcome: Mapping[str, int], intervention: Mapping[str, int], evidence: Mapping[str, int]
    ) -> float:
        """P(outcome under do(intervention) | evidence observed in the factual world)."""
        joint = total = 0.0
        for weight, world in self._worlds():
            factual = self._solve(world, {})
            if all(factual[k] == v for k, v in evidence.items()):
                total += weight
                cf = self._solve(world, intervention)
                if all(cf[k] == v for k, v in outcome.items()):
                    joint += weight
        if total == 0:
            raise ValueError(f"evidence {dict(evidence)} has probability zero")
        return joint / total

    def probability(
        self,
        event: Mapping[str, int],
        given: Mapping[str, int] | None = None,
        do: Mapping[str, int] | None = None,
    ) -> float:
        """P(event | given) in the model, or in the model under do(...) when ``do`` is given."""
        model = self.do(do) if do else self
        return model.counterfactual(event, {}, given or {})

    def ate(self, treatment: str, outcome: str, outcome_value: int = 1) -> float:
        """P(outcome=v | do(treatment=1)) - P(outcome=v | do(treatment=0))."""
        event = {outcome: outcome_value}
        return self.probability(event, do={treatment: 1}) - self.probability(event, do={treatment: 0})
