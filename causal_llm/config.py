"""Stage configs and the one loader that maps ``params.yaml`` onto them.

Every section of ``params.yaml`` becomes a frozen ``<Stage>Config``. The loader rejects unknown keys
with a "did you mean" hint and wrong types with the field's dotted path, before any compute starts.
A *profile* is a small override of the same file (``profiles: {smoke: {...}}``); the active one is
the top-level ``profile`` key, so DVC sees which profile produced an output.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ParamsError(ValueError):
    """A params file that cannot be used; the message names file, field and fix."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ParamsError(message)


@dataclass(frozen=True)
class DataConfig:
    """The causal testbed: stories sampled from an SCM with an injected spurious association."""

    n_stories: int = 4000
    # P(pronoun matches the occupation's stereotype) in the corpus; 0.5 means no spurious association.
    spurious_strength: float = 0.9
    heldout_fraction: float = 0.1
    augmenter: str = "cda_two_sided"
    # Optional JSONL file of extra training stories ({"text": ...} per line), appended to the testbed.
    corpus_file: str | None = None

    def __post_init__(self) -> None:
        _require(self.n_stories >= 50, "data.n_stories must be at least 50 (the held-out split needs stories)")
        _require(0.5 <= self.spurious_strength < 1.0, "data.spurious_strength must be in [0.5, 1.0)")
        _require(0.0 < self.heldout_fraction < 0.5, "data.heldout_fraction must be in (0, 0.5)")


@dataclass(frozen=True)
class PretrainConfig:
    """A GPT-2-style model and BPE tokenizer trained from scratch, once per corpus variant."""

    vocab_size: int = 2048
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 128
    epochs: int = 5
    batch_size: int = 16
    lr: float = 2e-3
    warmup_steps: int = 20
    # bf16 autocast trains the tiny GPT-2 1.66x faster than fp32 on AMX CPUs (DESIGN.md).
    bf16: bool = True
    num_workers: int = 1
    cpus_per_worker: int = 2
    # SPREAD puts workers on different nodes when a cluster has several; on one node it is PACK.
    placement_strategy: str = "SPREAD"
    report_every: int = 50

    def __post_init__(self) -> None:
        _require(self.n_embd % self.n_head == 0, "pretrain.n_embd must be divisible by pretrain.n_head")
        _require(self.vocab_size >= 300, "pretrain.vocab_size must be >= 300 (256 bytes + specials + merges)")
        _require(self.num_workers >= 1 and self.cpus_per_worker >= 1, "pretrain.num_workers/cpus_per_worker >= 1")
        _require(
            self.placement_strategy in ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"),
            "pretrain.placement_strategy must be PACK, SPREAD, STRICT_PACK or STRICT_SPREAD (Ray placement groups)",
        )
        _require(self.epochs >= 1 and self.batch_size >= 1, "pretrain.epochs and pretrain.batch_size >= 1")


@dataclass(frozen=True)
class FinetuneConfig:
    """LoRA SFT on instruction-style examples; the causal variant trains on their CDA copy too."""

    # "pretrain:baseline" (the model the pretrain stage produced), "smollm2-135m-instruct"
    # (the offline pretrained model), a local folder or a Hugging Face id.
    base_model: str = "smollm2-135m-instruct"
    n_examples: int = 128
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    epochs: int = 1
    batch_size: int = 8
    lr: float = 1e-3
    max_length: int = 128
    bf16: bool = True

    def __post_init__(self) -> None:
        _require(self.lora_r >= 1, "finetune.lora_r must be >= 1")
        _require(self.n_examples >= 8, "finetune.n_examples must be >= 8")


@dataclass(frozen=True)
class AlignConfig:
    """DPO (trl) on counterfactual preference pairs, on top of the baseline SFT model."""

    n_pairs: int = 64
    beta: float = 0.1
    lora_r: int = 8
    lora_alpha: int = 16
    epochs: int = 1
    batch_size: int = 8
    lr: float = 5e-4
    max_length: int = 160

    def __post_init__(self) -> None:
        _require(self.beta > 0, "align.beta must be > 0")
        _require(self.n_pairs >= 8, "align.n_pairs must be >= 8")


@dataclass(frozen=True)
class InferConfig:
    """The models answer the testbed's rung 1-3 questions under each prompting strategy."""

    strategies: list[str] = field(default_factory=lambda: ["direct", "causal_graph"])
    batch_size: int = 16

    def __post_init__(self) -> None:
        _require(len(self.strategies) >= 1, "infer.strategies must name at least one strategy")


@dataclass(frozen=True)
class EvaluateConfig:
    """Bias, causal accuracy and perplexity for every model variant, with bootstrap CIs."""

    n_bootstrap: int = 1000
    confidence: float = 0.95
    batch_size: int = 16
    n_heldout: int = 200
    n_invariance: int = 64
    # Benchmarks scored for every variant: named ones (data/benchmarks/) or "FORMAT:PATH" files.
    benchmarks: list[str] = field(default_factory=lambda: ["cladder_gen", "corr2cause_gen"])
    # Items per benchmark (a seeded sample that keeps every family); SmolLM2 scores ~1k tokens/s on 2 CPUs.
    benchmark_limit: int = 120

    def bootstrap_args(self, seed: int) -> dict[str, Any]:
        """Keyword arguments for ``causal_llm.metrics.bootstrap`` and the row builders."""
        return {"n_resamples": self.n_bootstrap, "confidence": self.confidence, "seed": seed}

    def __post_init__(self) -> None:
        _require(0.5 < self.confidence < 1.0, "evaluate.confidence must be in (0.5, 1)")
        _require(self.n_bootstrap >= 100, "evaluate.n_bootstrap must be >= 100 for a stable percentile CI")
        _require(self.benchmark_limit >= 10, "evaluate.benchmark_limit must be >= 10 items")


@dataclass(frozen=True)
class BenchmarksConfig:
    """Causal benchmarks generated with exact answers (data/benchmarks/), seeded by the top-level seed."""

    cladder_models_per_family: int = 2  # Bayesian networks per graph family and story variant
    corr2cause_graphs: int = 60
    corr2cause_variables: list[int] = field(default_factory=lambda: [3, 4, 5])

    def __post_init__(self) -> None:
        _require(self.cladder_models_per_family >= 1, "benchmarks.cladder_models_per_family must be >= 1")
        _require(self.corr2cause_graphs >= 1, "benchmarks.corr2cause_graphs must be >= 1")
        _require(
            bool(self.corr2cause_variables) and all(3 <= n <= 5 for n in self.corr2cause_variables),
            "benchmarks.corr2cause_variables must list sizes between 3 and 5 (all DAGs are enumerated)",
        )


@dataclass(frozen=True)
class RegistryConfig:
    """The MLflow model registry. Every stage's model becomes a version aliased ``candidate``; it moves
    ``champion`` only when its evaluation passes both gates against the current champion."""

    enabled: bool = True
    model_prefix: str = "causal-llm"  # registered names: <prefix>-<profile>-<stage>-<variant>
    # Bias gate: |value - ideal| may grow by at most bias_tolerance (absolute; 0 = no worse at all).
    bias_metrics: list[str] = field(default_factory=lambda: ["bias_gap", "cf_flip_rate"])
    bias_tolerance: float = 0.0
    # Ability gate: may get worse by at most ability_tolerance, relative (0.05 = 5%).
    ability_metrics: list[str] = field(default_factory=lambda: ["perplexity", "cladder_gen/accuracy"])
    ability_tolerance: float = 0.05

    def __post_init__(self) -> None:
        _require(self.bias_tolerance >= 0, "registry.bias_tolerance must be >= 0")
        _require(0 <= self.ability_tolerance < 1, "registry.ability_tolerance must be in [0, 1)")
        _require(
            bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*", self.model_prefix)),
            "registry.model_prefix must be letters, digits, '_', '.' or '-'",
        )


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "pretrain": PretrainConfig,
    "finetune": FinetuneConfig,
    "align": AlignConfig,
    "infer": InferConfig,
    "evaluate": EvaluateConfig,
    "benchmarks": BenchmarksConfig,
    "registry": RegistryConfig,
}
# `overrides` is applied after the profile: what `causal-llm run --set` and the Prefect form set.
TOP_LEVEL_KEYS = ("seed", "profile", "profiles", "overrides", *SECTIONS)
# Every key of `overrides` always present, so each DVC stage tracks only its own (`overrides.pretrain`).
OVERRIDES_SKELETON: dict[str, Any] = {"seed": None, **{name: {} for name in SECTIONS if name != "registry"}}


@dataclass(frozen=True)
class Params:
    seed: int
    profile: str
    data: DataConfig
    pretrain: PretrainConfig
    finetune: FinetuneConfig
    align: AlignConfig
    infer: InferConfig
    evaluate: EvaluateConfig
    benchmarks: BenchmarksConfig
    registry: RegistryConfig
    source: str = "params.yaml"

    def to_dict(self) -> dict[str, Any]:
        out = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        return {"seed": self.seed, "profile": self.profile, **out}


def _did_you_mean(key: str, options: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(options), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(tp)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if tp is float:  # YAML writes 1 for 1.0; bool is an int subclass and is never a number here
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is None and isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")  # list[str], str | None


def check_section(cls: type, raw: Any, where: str) -> dict[str, Any]:
    """Check one params section's keys and value types against ``cls``, naming ``where`` in errors."""
    raw = raw or {}
    _require(isinstance(raw, dict), f"{where}: expected a mapping of keys to values, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key, value in raw.items():
        if key not in names:
            raise ParamsError(f"{where}.{key}: unknown key.{_did_you_mean(key, names)} Valid keys: {', '.join(names)}.")
        if not _type_ok(value, hints[key]):
            raise ParamsError(
                f"{where}.{key}: expected {_type_name(hints[key])}, got {type(value).__name__} ({value!r})."
                f" Change the value in the params file."
            )
    return raw


def build_section(cls: type, raw: Any, where: str) -> Any:
    """Map one checked params section onto its config dataclass."""
    try:
        return cls(**check_section(cls, raw, where))
    except ParamsError as err:
        raise ParamsError(f"{where}: {err}") from None


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found. Pass --params FILE or create params.yaml.")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({err}). Fix the syntax at the line shown.") from None
    _require(isinstance(raw, dict), f"{path}: the top level must be a mapping of sections")
    return raw


def _check_profile(override: Any, where: str) -> None:
    _require(isinstance(override, dict | None), f"{where}: expected a mapping of sections to overrides")
    for key, value in (override or {}).items():
        if key == "seed":
            _require(_type_ok(value, int), f"{where}.seed: expected int, got {type(value).__name__}")
        elif key in SECTIONS:
            check_section(SECTIONS[key], value, f"{where}.{key}")
        else:
            raise ParamsError(f"{where}.{key}: unknown section.{_did_you_mean(key, SECTIONS)}")


def params_from_dict(raw: dict[str, Any], source: str, profile: str | None = None) -> Params:
    """Validate a whole params mapping and apply the active (or the given) profile's overrides."""
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise ParamsError(
                f"{source}: unknown top-level key '{key}'.{_did_you_mean(key, TOP_LEVEL_KEYS)}"
                f" Valid keys: {', '.join(TOP_LEVEL_KEYS)}."
            )
    profiles = raw.get("profiles") or {}
    _require(isinstance(profiles, dict), f"{source}.profiles: expected a mapping of profile name to overrides")
    active = profile or raw.get("profile") or "default"
    _require(isinstance(active, str), f"{source}.profile: expected a string naming a profile")
    if active != "default" and active not in profiles:
        raise ParamsError(
            f"{source}.profile: unknown profile '{active}'.{_did_you_mean(active, profiles)}"
            f" Known profiles: default, {', '.join(profiles)}."
        )
    for name, overrides in profiles.items():  # every profile, so a typo surfaces before it is used
        _check_profile(overrides, f"{source}.profiles.{name}")
    # Empty sections and `seed: null` are the skeleton DVC tracks key by key: they override nothing.
    overrides = {k: v for k, v in (raw.get("overrides") or {}).items() if v not in (None, {})}
    _check_profile(overrides, f"{source}.overrides")
    base = {k: v for k, v in raw.items() if k not in ("profiles", "overrides")}
    merged = deep_merge(deep_merge(base, profiles.get(active) or {}), overrides)
    seed = merged.get("seed", 0)
    _require(_type_ok(seed, int), f"{source}.seed: expected int, got {type(seed).__name__} ({seed!r})")
    sections = {}
    for name, cls in SECTIONS.items():
        check_section(cls, raw.get(name), f"{source}.{name}")
        sections[name] = build_section(cls, merged.get(name), f"{source}.{name}")
    return Params(seed=seed, profile=active, source=source, **sections)


def load_params(path: str | Path = "params.yaml", profile: str | None = None) -> Params:
    path = Path(path)
    return params_from_dict(read_yaml(path), str(path), profile)
