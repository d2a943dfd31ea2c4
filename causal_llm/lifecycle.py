"""The lifecycle's stages, in order, and what each stage's variants may start from.

A stage is a package ``causal_llm.<stage>`` that defines its method registry, its shared settings
and a ``STAGE`` spec; ``stage.py`` in it runs one variant. Adding a *method* touches none of this:
the method registers itself in its own module and a variant in ``params.yaml`` chooses it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from causal_llm.registry import MethodRegistry

# Stages whose sections hold `variants:`, in lifecycle order; evaluation and the report follow them.
VARIANT_STAGES = ("data", "pretrain", "finetune", "align", "infer")
MODEL_STAGES = ("pretrain", "finetune", "align")  # stages whose variants are models
# Variant and stage names become DVC stage names (letters, digits, '_' and '-' only).
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_]*"


@dataclass(frozen=True)
class StageSpec:
    """What a stage is: its methods, its shared settings, what its variants start from."""

    name: str
    methods: MethodRegistry
    settings: type  # the frozen dataclass of the section's shared settings
    starts_from: tuple[str, ...] = ()  # stages whose variants `from:` may name
    external_models: bool = False  # `from:` may also name a model outside the lifecycle
    many: bool = False  # `from:` is a list of models (or `all`)
    trains: bool = False  # its variants are training jobs on Ray Train
    # Shared library modules every variant of the stage runs (DVC deps beside the method's own module).
    code: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""


def stage_spec(name: str) -> StageSpec:
    """The ``STAGE`` spec of ``causal_llm.<name>`` (imported on first use: nothing heavy at import)."""
    return importlib.import_module(f"causal_llm.{name}").STAGE
