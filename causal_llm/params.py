"""``params.yaml``: the experiment, one section per stage, each a set of named variants.

A variant stage's section (``data``, ``pretrain``, ``finetune``, ``align``, ``infer``) holds the
stage's shared settings, ``defaults`` that every variant starts from, and ``variants``::

    pretrain:
      ray: {num_workers: 1, cpus_per_worker: 2}
      defaults: {training: {epochs: 5}}
      variants:
        baseline: {method: scratch, from: data/original}
        cda:      {method: scratch, from: data/cda}

A variant's name is the user's; ``method`` is a registered method of the stage, ``from`` what the
variant starts from (an upstream variant ``<stage>/<name>``, or for fine-tuning and alignment any
model reference), ``baseline`` the variant of the same stage it is compared with; every other key
is the method's config, validated against the method's dataclass. A profile
(``profiles: {smoke: {...}}``) and the run's ``overrides`` are deep-merged on top, in that order;
``null`` removes a variant. ``plugins`` lists extra modules (files or dotted names) whose methods
register themselves when imported.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causal_llm.benchmarks.generate import BenchmarksConfig
from causal_llm.config import ParamsError, build_config, check_keys, deep_merge, read_yaml, require, to_dict
from causal_llm.evaluate import EvaluateConfig
from causal_llm.gates import RegistryConfig
from causal_llm.lifecycle import NAME_PATTERN, VARIANT_STAGES, stage_spec
from causal_llm.plugins import load_plugins
from causal_llm.registry import Method, did_you_mean

VARIANT_KEYS = ("method", "from", "baseline")  # every other key of a variant is its method's config
RESERVED_NAMES = {"testbed", "all", "base"}  # node names of the lifecycle itself


@dataclass(frozen=True)
class RuntimeConfig:
    """How a run executes; none of it changes a result, so DVC does not track it."""

    # Nodes computing in their own process at once; each gets cores // parallel torch threads. A
    # training node takes its Ray job's CPUs instead, from the same cores when Ray is the run's own.
    parallel: int = 2

    def __post_init__(self) -> None:
        require(self.parallel >= 1, "runtime.parallel must be >= 1")


@dataclass(frozen=True)
class Variant:
    stage: str
    name: str
    method: str
    starts_from: tuple[str, ...]  # upstream variant ids or external model references, as written
    baseline: str | None
    config: Any  # the method's config dataclass

    @property
    def id(self) -> str:
        return f"{self.stage}/{self.name}"

    def method_spec(self) -> Method:
        return stage_spec(self.stage).methods.get(self.method)


@dataclass(frozen=True)
class StageParams:
    name: str
    settings: Any
    variants: dict[str, Variant]
    seeds: tuple[int, ...] | None = None  # training stages: each variant runs once per seed (None: `seed`)


@dataclass(frozen=True)
class Params:
    seed: int
    profile: str
    stages: dict[str, StageParams]
    evaluate: EvaluateConfig
    benchmarks: BenchmarksConfig
    registry: RegistryConfig
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    plugins: tuple[str, ...] = ()
    source: str = "params.yaml"

    @property
    def data(self) -> Any:
        """The testbed's settings (``data`` minus its variants)."""
        return self.stages["data"].settings

    def variants(self, stage: str | None = None) -> list[Variant]:
        stages = [stage] if stage else list(VARIANT_STAGES)
        return [v for s in stages for v in self.stages[s].variants.values()]

    def seeds(self, stage: str) -> tuple[int, ...]:
        """The training seeds of a stage's variants: its ``seeds`` list, else the top-level ``seed``."""
        return self.stages[stage].seeds or (self.seed,)

    def variant(self, variant_id: str) -> Variant:
        stage, _, name = variant_id.partition("/")
        if stage not in self.stages or name not in self.stages[stage].variants:
            known = [v.id for v in self.variants()]
            raise ParamsError(f"{self.source}: no variant '{variant_id}'.{did_you_mean(variant_id, known)}")
        return self.stages[stage].variants[name]

    def to_dict(self) -> dict[str, Any]:
        """The effective params (profile and overrides applied), as plain data: what MLflow logs."""
        out: dict[str, Any] = {"seed": self.seed, "profile": self.profile, "plugins": list(self.plugins)}
        for name, stage in self.stages.items():
            out[name] = {
                **to_dict(stage.settings),
                **({"seeds": list(stage.seeds)} if stage.seeds else {}),
                "variants": {v.name: variant_dict(v) for v in stage.variants.values()},
            }
        for name in ("evaluate", "benchmarks", "registry", "runtime"):
            out[name] = to_dict(getattr(self, name))
        return out


def variant_dict(v: Variant) -> dict[str, Any]:
    return {"method": v.method, "from": list(v.starts_from), "baseline": v.baseline, **to_dict(v.config)}


PLAIN_SECTIONS: dict[str, type] = {
    "evaluate": EvaluateConfig,
    "benchmarks": BenchmarksConfig,
    "registry": RegistryConfig,
    "runtime": RuntimeConfig,
}
TOP_LEVEL_KEYS = ("seed", "profile", "profiles", "overrides", "plugins", *VARIANT_STAGES, *PLAIN_SECTIONS)


# --- the loader ------------------------------------------------------------------------------------


class _Layers:
    """Which layer (base file, profile, overrides) wrote a dotted path: errors name where to fix it."""

    def __init__(self, source: str, layers: list[tuple[str, dict[str, Any]]]) -> None:
        self.source, self.layers = source, layers

    def locate(self, path: str) -> str:
        parts = path.split(".")
        for prefix, raw in reversed(self.layers):
            node: Any = raw
            for part in parts:
                key = part.split("[", 1)[0]
                if not isinstance(node, dict) or key not in node:
                    break
                node = node[key]
            else:
                return f"{self.source}.{prefix}{path}"
        return f"{self.source}.{path}"


def _located(err: ParamsError, path: str, layers: _Layers) -> ParamsError:
    message = str(err)
    detail = message[len(path) :] if message.startswith(path) else f": {message}"
    return ParamsError(layers.locate(path) + detail)


def _error_path(message: str) -> str:
    return message.split(":", 1)[0].split(" ", 1)[0]


def _variant_stage(name: str, raw: Any, layers: _Layers) -> StageParams:
    spec = stage_spec(name)
    try:
        section = check_keys(spec.settings, raw, name, extra=("defaults", "variants", "seeds"))
    except ParamsError as err:
        raise _located(err, _error_path(str(err)), layers) from None
    settings_raw = {k: v for k, v in section.items() if k not in ("defaults", "variants", "seeds")}
    seeds = section.get("seeds")
    if seeds is not None:
        require(
            spec.trains,
            layers.locate(f"{name}.seeds") + f": {name} variants do not train; only training stages take `seeds`",
        )
        require(
            isinstance(seeds, list)
            and seeds
            and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seeds)
            and len(set(seeds)) == len(seeds),
            layers.locate(f"{name}.seeds") + f": expected a list of distinct non-negative ints, got {seeds!r}",
        )
    try:
        settings = build_config(spec.settings, settings_raw, name)
    except ParamsError as err:
        raise _located(err, _error_path(str(err)), layers) from None
    defaults = section.get("defaults") or {}
    require(isinstance(defaults, dict), layers.locate(f"{name}.defaults") + ": expected a mapping")
    variants_raw = section.get("variants") or {}
    require(
        isinstance(variants_raw, dict) and variants_raw,
        layers.locate(f"{name}.variants") + ": expected a mapping of variant names to {method: ..., ...}",
    )
    variants = {}
    for vname, vraw in variants_raw.items():
        where = f"{name}.variants.{vname}"
        require(
            re.fullmatch(NAME_PATTERN, str(vname)) is not None and vname not in RESERVED_NAMES,
            layers.locate(where)
            + f": a variant name is letters, digits and '_' (not {', '.join(sorted(RESERVED_NAMES))})",
        )
        require(isinstance(vraw, dict), layers.locate(where) + ": expected a mapping {method: ..., ...}")
        variants[vname] = _variant(spec, str(vname), defaults, vraw, layers)
    return StageParams(name, settings, variants, tuple(seeds) if seeds else None)


def _variant(spec: Any, name: str, defaults: dict[str, Any], raw: dict[str, Any], layers: _Layers) -> Variant:
    where = f"{spec.name}.variants.{name}"
    merged = deep_merge(copy.deepcopy(defaults), raw)
    method_name = merged.get("method")
    if not isinstance(method_name, str):
        raise ParamsError(layers.locate(where) + f": needs `method:`, one of {', '.join(spec.methods.names())}.")
    try:
        method = spec.methods.get(method_name)
    except KeyError as err:
        raise ParamsError(layers.locate(f"{where}.method") + f": {err.args[0]}") from None
    starts_from = merged.get("from")
    if isinstance(starts_from, str):
        starts_from = [starts_from]
    if spec.starts_from or spec.external_models:
        require(
            isinstance(starts_from, list) and starts_from and all(isinstance(s, str) for s in starts_from),
            layers.locate(f"{where}.from") + f": say what the variant starts from ({_from_hint(spec)}).",
        )
        require(spec.many or len(starts_from) == 1, layers.locate(f"{where}.from") + ": one model, not a list.")
    else:
        require(starts_from is None, layers.locate(f"{where}.from") + f": {spec.name} variants start from the testbed.")
        starts_from = []
    baseline = merged.get("baseline")
    require(baseline is None or isinstance(baseline, str), layers.locate(f"{where}.baseline") + ": a variant name")
    config_raw = {k: v for k, v in merged.items() if k not in VARIANT_KEYS}
    try:
        config = build_config(method.config, config_raw, where)
    except ParamsError as err:
        path = _error_path(str(err))
        rest = path[len(where) + 1 :] if path.startswith(where + ".") else ""
        top = rest.split(".", 1)[0].split("[", 1)[0]
        if rest and top not in raw and top in defaults:  # the offending key came from `defaults`
            err = ParamsError(
                f"{spec.name}.defaults.{rest}"
                + str(err)[len(path) :]
                + f" (for variant '{name}', method '{method_name}')"
            )
            path = f"{spec.name}.defaults.{rest}"
        raise _located(err, path, layers) from None
    return Variant(spec.name, name, method_name, tuple(starts_from), baseline, config)


def _from_hint(spec: Any) -> str:
    options = [f"{s}/<variant>" for s in spec.starts_from]
    if spec.external_models:
        options.append("a model: smollm2-135m-instruct, a local folder or a Hugging Face id")
    if spec.many:
        options.append("a list of these, or `all`")
    return "; ".join(options)


def _check_references(params: Params, layers: _Layers) -> None:
    """Every ``from`` names an existing upstream variant (or, where allowed, an external model);
    every ``baseline`` a variant of the same stage; and the variants form no cycle."""
    from graphlib import CycleError, TopologicalSorter

    known = {v.id for v in params.variants()}
    graph: dict[str, set[str]] = {}
    for v in params.variants():
        spec = stage_spec(v.stage)
        where = f"{v.stage}.variants.{v.name}"
        graph[v.id] = set()
        for ref in v.starts_from:
            if spec.many and ref == "all":
                continue
            stage, _, name = ref.partition("/")
            if stage in VARIANT_STAGES:
                require(
                    stage in spec.starts_from,
                    layers.locate(f"{where}.from")
                    + f": {v.stage} variants cannot start from {stage} ({_from_hint(spec)}).",
                )
                require(
                    ref in known,
                    layers.locate(f"{where}.from")
                    + f": '{ref}' is not a variant.{did_you_mean(ref, sorted(known))}"
                    + f" Known {stage} variants: {', '.join(sorted(params.stages[stage].variants)) or 'none'}.",
                )
                graph[v.id].add(ref)
            else:
                require(
                    spec.external_models,
                    layers.locate(f"{where}.from")
                    + f": '{ref}' is not a variant of {', '.join(spec.starts_from)}."
                    + did_you_mean(ref, sorted(known)),
                )
        if v.baseline is not None:
            require(
                v.baseline in params.stages[v.stage].variants and v.baseline != v.name,
                layers.locate(f"{where}.baseline")
                + f": '{v.baseline}' is not another {v.stage} variant."
                + did_you_mean(v.baseline, params.stages[v.stage].variants),
            )
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as err:
        raise ParamsError(
            f"{params.source}: variants start from each other in a cycle: {' -> '.join(err.args[1])}"
        ) from None


def params_from_dict(raw: dict[str, Any], source: str, profile: str | None = None) -> Params:
    """Validate a whole params mapping under the active (or the given) profile and its overrides."""
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise ParamsError(
                f"{source}: unknown top-level key '{key}'.{did_you_mean(key, TOP_LEVEL_KEYS)}"
                f" Valid keys: {', '.join(TOP_LEVEL_KEYS)}."
            )
    plugins = raw.get("plugins") or []
    require(
        isinstance(plugins, list) and all(isinstance(p, str) for p in plugins),
        f"{source}.plugins: expected a list of module files or names",
    )
    load_plugins(plugins, f"{source}.plugins")
    profiles = raw.get("profiles") or {}
    require(isinstance(profiles, dict), f"{source}.profiles: expected a mapping of profile name to overrides")
    active = profile or raw.get("profile") or "default"
    require(isinstance(active, str), f"{source}.profile: expected a string naming a profile")
    if active != "default" and active not in profiles:
        raise ParamsError(
            f"{source}.profile: unknown profile '{active}'.{did_you_mean(active, profiles)}"
            f" Known profiles: default, {', '.join(profiles)}."
        )
    overrides = raw.get("overrides") or {}
    require(isinstance(overrides, dict), f"{source}.overrides: expected a mapping of sections to overrides")
    base = {k: v for k, v in raw.items() if k not in ("profiles", "overrides", "profile", "plugins")}
    for name, layer in [*((n, p) for n, p in profiles.items()), ("(overrides)", overrides)]:
        prefix = "overrides" if name == "(overrides)" else f"profiles.{name}"
        require(isinstance(layer, dict | None), f"{source}.{prefix}: expected a mapping of sections to overrides")
        for key in layer or {}:
            if key not in (*VARIANT_STAGES, *PLAIN_SECTIONS, "seed"):
                raise ParamsError(f"{source}.{prefix}.{key}: unknown section.{did_you_mean(key, TOP_LEVEL_KEYS)}")
    if active != "default":  # the sections as written are a profile too: a mistake there surfaces now
        _build(base, [], source, "default", plugins)
    for name in profiles:  # every profile, so a typo surfaces before the profile is used
        if name != active:
            _build(base, [(f"profiles.{name}.", profiles[name] or {})], source, name, plugins)
    layers = [(f"profiles.{active}.", profiles.get(active) or {})] if active != "default" else []
    return _build(base, [*layers, ("overrides.", overrides)], source, active, plugins)


def _build(
    base: dict[str, Any], layers: list[tuple[str, dict[str, Any]]], source: str, profile: str, plugins: list[str]
) -> Params:
    merged = copy.deepcopy(base)
    for _, layer in layers:
        merged = deep_merge(merged, copy.deepcopy(layer))
    located = _Layers(source, [("", base), *layers])
    seed = merged.get("seed", 0)
    require(
        isinstance(seed, int) and not isinstance(seed, bool),
        f"{located.locate('seed')}: expected int, got {type(seed).__name__} ({seed!r})",
    )
    stages = {name: _variant_stage(name, merged.get(name), located) for name in VARIANT_STAGES}
    plain = {}
    for name, cls in PLAIN_SECTIONS.items():
        try:
            plain[name] = build_config(cls, merged.get(name), name)
        except ParamsError as err:
            raise _located(err, _error_path(str(err)), located) from None
    params = Params(seed, profile, stages, plugins=tuple(plugins), source=source, **plain)
    _check_references(params, located)
    return params


def load_params(path: str | Path = "params.yaml", profile: str | None = None) -> Params:
    path = Path(path)
    return params_from_dict(read_yaml(path), str(path), profile)
