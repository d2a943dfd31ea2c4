"""The lifecycle as a DAG of nodes, built from params: one node per (stage, variant).

A node is the unit everything else follows: one DVC stage (``dvc.yaml`` is rendered from these
nodes), one Prefect task, one MLflow child run and its rows of the results table. Each node names
the files it reads (``deps``: upstream outputs, code, user files, by content), what it writes
(``outs``) and the nodes it waits for (``upstream``). Its effective config, after profile and
overrides, is ``resolved``: the ``params`` node writes it to ``build/params/<node>.json``, which is
what DVC tracks for the node, so a change re-runs exactly the nodes whose config changed and
whatever reads their outputs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causal_llm.code_deps import code_files
from causal_llm.config import to_dict
from causal_llm.lifecycle import MODEL_STAGES, VARIANT_STAGES, stage_spec
from causal_llm.params import Params, Variant

TESTBED = Path("data/testbed")
CORPORA = Path("data/corpora")
BENCHMARKS = Path("data/benchmarks")
MODELS = Path("models")
REPORTS = Path("reports")
PARAMS_DIR = Path("build/params")
RAY_STORAGE = Path("build/ray")
PARAMS_NODE = "params"


@dataclass(frozen=True)
class Out:
    path: str
    cache: bool = True  # False: small files DVC records by hash without copying into its cache
    metric: bool = False


@dataclass(frozen=True)
class Model:
    """A model the lifecycle evaluates: one of its variants or a pretrained model a variant starts from."""

    label: str  # the row name: "finetune/sft", "base/smollm2-135m-instruct"
    ref: str  # what load_model takes
    node: str | None  # the node that trains it (None: a model from outside the lifecycle)

    @property
    def stage(self) -> str:
        return self.label.split("/", 1)[0]

    @property
    def slug(self) -> str:
        return self.label.replace("/", "__")


@dataclass(frozen=True)
class Node:
    id: str  # "pretrain/baseline", "evaluate/finetune/sft", "testbed", "report"
    stage: str  # the stage flow that runs it
    upstream: tuple[str, ...] = ()
    deps: tuple[str, ...] = ()
    outs: tuple[Out, ...] = ()
    resolved: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    runner: str = ""  # "module:function" that runs the node: function(node, lifecycle)

    @property
    def dvc_name(self) -> str:
        return self.id.replace("/", "-").replace(".", "_")

    @property
    def params_file(self) -> str:
        return str(PARAMS_DIR / f"{self.dvc_name}.json")

    @property
    def variant(self) -> str:
        return self.id.split("/", 1)[1] if "/" in self.id else self.id


def model_dir(variant_id: str) -> Path:
    return MODELS / variant_id


def corpus_file(variant_id: str) -> Path:
    return CORPORA / f"{variant_id.split('/', 1)[1]}.jsonl"


def metrics_file(variant_id: str) -> Path:
    return REPORTS / variant_id / "metrics.json"


def evaluate_dir(model: Model) -> Path:
    return REPORTS / "evaluate" / model.slug


def infer_dir(variant_id: str) -> Path:
    return REPORTS / variant_id


def external_label(ref: str) -> str:
    """``base/<name>`` for a model outside the lifecycle; a hub id or a path also gets a short hash of
    the whole reference, so ``org1/gpt2`` and ``org2/gpt2`` stay two nodes."""
    name = Path(ref.rstrip("/")).name
    if name == ref.rstrip("/"):
        return f"base/{name}"
    return f"base/{name}-{hashlib.sha256(ref.encode()).hexdigest()[:6]}"


def method_files(*methods: Any) -> list[str]:
    """The code of these methods: each defining module (a plugin file by its path in the working
    tree) and every ``causal_llm`` module it imports."""
    modules, plugins = [], []
    for method in methods:
        module = method.run.__module__
        if module.startswith("causal_llm_plugin_"):
            plugins += _relative([method.source])
        elif module.startswith("causal_llm"):
            modules.append(module)
        else:  # a dotted-name plugin: its file, where it lies in the working tree
            plugins += _relative(plugin_files([module]))
    return code_files(*modules, files=tuple(plugins))


def plugin_files(plugins: list[str] | tuple[str, ...]) -> list[Path]:
    """The source file of each plugin: the ``.py`` path as given, or a dotted module's file (found by
    ``find_spec``, which imports only its parent packages; none if it cannot be found)."""
    import importlib.util

    out = []
    for plugin in plugins:
        if plugin.endswith(".py"):
            out.append(Path(plugin))
            continue
        try:
            spec = importlib.util.find_spec(plugin)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            out.append(Path(spec.origin))
    return out


def _relative(paths: list[Path]) -> list[str]:
    root = Path.cwd().resolve()
    out = []
    for path in paths:
        try:
            out.append(str(Path(path).resolve().relative_to(root)))
        except ValueError:
            continue  # installed outside the repository: versioned by the environment, not by DVC
    return list(dict.fromkeys(out))


def local_folder(ref: str) -> str | None:
    """A model reference that is a folder in the working tree (a DVC dependency by content)."""
    return _relative([Path(ref)])[0] if Path(ref).is_dir() and _relative([Path(ref)]) else None


def replica_id(variant_id: str, seed: int, seeds: tuple[int, ...]) -> str:
    """A training variant's node at one seed: the first seed keeps the variant's id, the others
    ``<id>-s<seed>`` (a variant name has no '-', so no user name collides)."""
    return variant_id if seed == seeds[0] else f"{variant_id}-s{seed}"


class Lifecycle:
    """The nodes of one params; ``nodes`` in an order in which each node comes after its upstream.

    A training variant is one node per seed of its stage (``seeds`` in its section); a replica at
    seed s starts from its upstream's replica at s where that stage has seed s, else from the
    upstream's first seed."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self.replicas: dict[str, tuple[Variant, int]] = {}
        for v in params.variants():
            seeds = self.seeds_of(v)
            for seed in seeds:
                self.replicas[replica_id(v.id, seed, seeds)] = (v, seed)
        self.models = self._models()
        nodes = [self._testbed(), self._benchmarks()]
        for rid, (v, seed) in self.replicas.items():
            nodes.append(self._variant_node(v, rid, seed))
        nodes += [self._evaluate(m) for m in self.models]
        nodes.append(self._report(nodes))
        self.nodes = [self._params_node(), *nodes]
        self.by_id = {n.id: n for n in self.nodes}

    # --- replicas --------------------------------------------------------------------------------

    def seeds_of(self, v: Variant) -> tuple[int, ...]:
        return self.params.seeds(v.stage) if stage_spec(v.stage).trains else (self.params.seed,)

    def variant_of(self, node_id: str) -> Variant:
        """The params variant a node runs (its replica at any seed)."""
        if node_id in self.replicas:
            return self.replicas[node_id][0]
        return self.params.variant(node_id)

    def seed_of(self, node_id: str) -> int:
        return self.replicas[node_id][1] if node_id in self.replicas else self.params.seed

    def starts_from(self, node_id: str) -> list[str]:
        """What a node's variant starts from, as node ids at the node's seed (external refs unchanged)."""
        v, seed = self.replicas[node_id]
        out = []
        for ref in v.starts_from:
            stage = ref.split("/", 1)[0]
            if stage in MODEL_STAGES and ref in self.replicas:
                seeds = self.params.seeds(stage)
                out.append(replica_id(ref, seed if seed in seeds else seeds[0], seeds))
            else:
                out.append(ref)
        return out

    def replicas_of(self, variant_id: str) -> list[tuple[int, str]]:
        """(seed, node id) of every replica of a variant, in seed order."""
        return [(seed, rid) for rid, (v, seed) in self.replicas.items() if v.id == variant_id]

    # --- models ----------------------------------------------------------------------------------

    def _models(self) -> list[Model]:
        """Every model: external bases first (as they come up), then every model replica in order."""
        external: dict[str, Model] = {}
        lifecycle = []
        for rid, (v, _) in self.replicas.items():
            if v.stage not in MODEL_STAGES:
                continue
            for ref in v.starts_from:
                if ref.split("/", 1)[0] not in VARIANT_STAGES:
                    external.setdefault(ref, Model(external_label(ref), ref, None))
            lifecycle.append(Model(rid, str(model_dir(rid)), rid))
        return [*external.values(), *lifecycle]

    @property
    def primary_models(self) -> list[Model]:
        """External models and each model variant at its first seed (what `from: all` infers with)."""
        return [m for m in self.models if m.node is None or m.node == self.variant_of(m.node).id]

    def model(self, ref: str) -> Model:
        """The model a ``from:`` names: a lifecycle variant, or an external reference."""
        for m in self.models:
            if ref in (m.node, m.ref, m.label):
                return m
        return Model(external_label(ref), ref, None)

    def infer_models(self, v: Variant) -> list[Model]:
        if "all" in v.starts_from:
            return self.primary_models
        return [self.model(ref) for ref in v.starts_from]

    # --- nodes -----------------------------------------------------------------------------------

    def _params_node(self) -> Node:
        """Reads params.yaml, the plugins, and the code that turns them into configs (config classes
        and their defaults), so that a changed default rewrites the configs it changes."""
        plugins = plugin_files(self.params.plugins)
        modules = ["causal_llm.config", "causal_llm.params", "causal_llm.dag", "causal_llm.lifecycle"]
        modules += ["causal_llm.training.config", "causal_llm.models.tiny", "causal_llm.models.lora"]
        modules += ["causal_llm.evaluate", "causal_llm.gates", "causal_llm.benchmarks.generate"]
        modules += [f"causal_llm.{stage}" for stage in VARIANT_STAGES]
        code = code_files(*modules) + method_files(*(v.method_spec() for v in self.params.variants()))
        return Node(
            PARAMS_NODE,
            "params",
            deps=tuple(dict.fromkeys(["params.yaml", *_relative(plugins), *code])),
            outs=(Out(str(PARAMS_DIR), cache=False),),
            description="Validate params.yaml and write each node's effective config",
            runner="causal_llm.dag:write_resolved",
        )

    def _testbed(self) -> Node:
        settings = to_dict(self.params.data)
        settings.pop("corpus_file")  # read by the corpus variants, not by the testbed
        return Node(
            "testbed",
            "data",
            (PARAMS_NODE,),
            tuple(code_files("causal_llm.data.stage", *stage_spec("data").code)),
            (Out(str(TESTBED)),),
            {"seed": self.params.seed, "data": settings},
            "The SCM testbed: train and held-out stories, rung 1-3 questions",
            "causal_llm.data.stage:run",
        )

    def _benchmarks(self) -> Node:
        modules = [f"causal_llm.benchmarks.{m}" for m in ("generate", "cladder_gen", "corr2cause_gen", "testbed")]
        return Node(
            "benchmarks",
            "benchmarks",
            (PARAMS_NODE,),
            tuple(code_files("causal_llm.benchmarks.stage", *modules, "causal_llm.testbed", "causal_llm.scm")),
            (Out(str(BENCHMARKS)),),
            {"seed": self.params.seed, "benchmarks": to_dict(self.params.benchmarks)},
            "CLadder- and Corr2Cause-style benchmarks with exact answers",
            "causal_llm.benchmarks.stage:run",
        )

    def _variant_resolved(self, v: Variant, rid: str, seed: int) -> dict[str, Any]:
        spec = stage_spec(v.stage)
        return {
            "seed": seed,
            "stage": v.stage,
            "variant": v.name,
            "method": v.method,
            "from": self.starts_from(rid),
            "config": to_dict(v.config),
            "settings": to_dict(self.params.stages[v.stage].settings),
            **({"trains": True} if spec.trains else {}),
        }

    def _variant_node(self, v: Variant, rid: str, seed: int) -> Node:
        spec = stage_spec(v.stage)
        code = code_files(f"causal_llm.{v.stage}.stage", *spec.code) + method_files(v.method_spec())
        resolved = self._variant_resolved(v, rid, seed)
        upstream: list[str] = [PARAMS_NODE]
        reads: list[str] = []
        outs: list[Out]
        if v.stage == "data":
            upstream.append("testbed")
            reads = [str(TESTBED)]
            if self.params.data.corpus_file:
                reads += [self.params.data.corpus_file]
                resolved["corpus_file"] = self.params.data.corpus_file
            resolved["bootstrap"] = self._bootstrap()
            outs = [Out(str(corpus_file(v.id))), Out(str(metrics_file(v.id)), cache=False, metric=True)]
        elif v.stage == "infer":
            upstream.append("testbed")
            reads = [str(TESTBED)]
            models = self.infer_models(v)
            for m in models:
                if m.node:
                    upstream.append(m.node)
                    reads.append(m.ref)
                elif local_folder(m.ref):
                    reads.append(local_folder(m.ref))  # type: ignore[arg-type]
            resolved["models"] = [{"label": m.label, "ref": m.ref} for m in models]
            resolved["spurious_strength"] = self.params.data.spurious_strength
            resolved["bootstrap"] = self._bootstrap()
            outs = [Out(str(infer_dir(v.id) / "answers.jsonl"), cache=False), Out(str(metrics_file(v.id)), False, True)]
        else:
            for ref in self.starts_from(rid):
                m = self.model(ref)
                if v.stage == "pretrain":
                    upstream.append(ref)
                    reads.append(str(corpus_file(ref)))
                elif m.node:
                    upstream.append(m.node)
                    reads.append(m.ref)
                elif local_folder(m.ref):
                    reads.append(local_folder(m.ref))  # type: ignore[arg-type]
            if v.stage != "pretrain":
                upstream.append("testbed")
                reads.append(str(TESTBED))
            outs = [Out(str(model_dir(rid))), Out(str(metrics_file(rid)), cache=False, metric=True)]
        return Node(
            rid,
            v.stage,
            tuple(dict.fromkeys(upstream)),
            tuple(dict.fromkeys([*reads, *code])),
            tuple(outs),
            resolved,
            f"{v.method}: {v.method_spec().summary}",
            f"causal_llm.{v.stage}.stage:run",
        )

    def _bootstrap(self) -> dict[str, Any]:
        return {"n_bootstrap": self.params.evaluate.n_bootstrap, "confidence": self.params.evaluate.confidence}

    def _evaluate(self, m: Model) -> Node:
        reads = [str(TESTBED), str(BENCHMARKS)]
        upstream = [PARAMS_NODE, "testbed", "benchmarks"]
        if m.node:
            upstream.append(m.node)
            reads.append(m.ref)
        elif local_folder(m.ref):
            reads.append(local_folder(m.ref))  # type: ignore[arg-type]
        for entry in self.params.evaluate.benchmarks:  # FORMAT:PATH files are inputs by content
            reads += _benchmark_files(entry)
        modules = ["causal_llm.evaluate.stage", "causal_llm.evaluate.testbed_metrics", "causal_llm.scoring"]
        modules += ["causal_llm.metrics", "causal_llm.models.loading", "causal_llm.benchmarks.runner"]
        code = code_files(*modules) + _benchmark_code()
        out = evaluate_dir(m)
        return Node(
            f"evaluate/{m.label}",
            "evaluate",
            tuple(upstream),
            tuple(dict.fromkeys([*reads, *code])),
            (Out(str(out / "items"), cache=False), Out(str(out / "results.json"), cache=False, metric=True)),
            {
                "seed": self.params.seed,
                "model": {"label": m.label, "ref": m.ref},
                "evaluate": to_dict(self.params.evaluate),
            },
            f"bias, invariance, perplexity and benchmarks of {m.label}",
            "causal_llm.evaluate.stage:run",
        )

    def _report(self, nodes: list[Node]) -> Node:
        rows_from = [n for n in nodes if n.stage in ("data", "infer", "evaluate") and n.id != "testbed"]
        metric_files = [o.path for n in rows_from for o in n.outs if o.metric]
        # Per-item values: the paired differences to each variant's baseline are computed from them.
        metric_files += [o.path for n in rows_from if n.stage == "evaluate" for o in n.outs if o.path.endswith("items")]
        return Node(
            "report",
            "report",
            tuple(n.id for n in rows_from),
            tuple([*metric_files, *code_files("causal_llm.evaluate.report", "causal_llm.metrics", "causal_llm.stats")]),
            (Out(str(REPORTS / "lifecycle"), cache=False),),
            {"rows_from": [n.id for n in rows_from]},
            "One table of variant x metric with CIs, and plots",
            "causal_llm.evaluate.report:run_report",
        )

    # --- queries ---------------------------------------------------------------------------------

    def stage_nodes(self, stage: str) -> list[Node]:
        return [n for n in self.nodes if n.stage == stage]

    def downstream(self, node_id: str) -> set[str]:
        """Every node that (transitively) waits for ``node_id``."""
        found: set[str] = set()
        frontier = [node_id]
        while frontier:
            current = frontier.pop()
            for n in self.nodes:
                if current in n.upstream and n.id not in found:
                    found.add(n.id)
                    frontier.append(n.id)
        return found


def run_node(node: Node, lc: Lifecycle) -> None:
    """Run one node in this process (what ``causal-llm stage NODE`` does for DVC).

    ``CAUSAL_LLM_THREADS`` (set by a lifecycle run that computes several nodes at once) caps the torch
    threads of a node that computes here; a training node's threads are its Ray workers' CPUs.
    """
    import importlib
    import os

    threads = os.environ.get("CAUSAL_LLM_THREADS")
    if threads and not node.resolved.get("trains"):
        import torch

        torch.set_num_threads(int(threads))
    module, _, function = node.runner.partition(":")
    getattr(importlib.import_module(module), function)(node, lc)


def resolved_text(node: Node) -> str:
    return json.dumps(node.resolved, indent=2, sort_keys=True) + "\n"


def write_resolved(node: Node, lc: Lifecycle) -> None:
    """The params node: every node's effective config to ``build/params/<node>.json`` (what DVC tracks)."""
    PARAMS_DIR.mkdir(parents=True, exist_ok=True)
    wanted = {Path(n.params_file).name: n for n in lc.nodes if n.id != PARAMS_NODE}
    for stale in PARAMS_DIR.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    for name, n in wanted.items():
        path = PARAMS_DIR / name
        text = resolved_text(n)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
    print(f"params: {len(wanted)} nodes' configs in {PARAMS_DIR}", flush=True)


def _benchmark_files(entry: str) -> list[str]:
    """The files a ``FORMAT:PATH[?option=FILE]`` entry reads: the path, option files and the companion
    files the format pairs with it (CLadder's model metadata)."""
    from causal_llm.benchmarks import FORMATS, formats
    from causal_llm.benchmarks.runner import split_options

    source, options = split_options(entry)
    fmt, sep, path = source.partition(":")
    if not (sep and path):
        return []
    files = [Path(path), *(Path(v) for v in options.values())]
    if fmt in formats() and hasattr(FORMATS.get(fmt), "companions"):
        found = FORMATS.get(fmt).companions(Path(path), options.get("meta"))
        files += [found] if isinstance(found, Path) else list(found or [])
    out = []
    for file in dict.fromkeys(files):
        if file.exists() or file == Path(path):
            out += _relative([file]) or [str(file.resolve())]
    return out


def _benchmark_code() -> list[str]:
    from causal_llm.benchmarks import FORMAT_MODULES

    return code_files(*(f"causal_llm.benchmarks.{m}" for m in ("base", *FORMAT_MODULES)))
