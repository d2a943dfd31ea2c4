"""The Prefect run form's choices, generated from params.yaml and the method registries."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def profile_choices(params_file: Path = REPO_PARAMS) -> tuple[str, ...]:
    """``default`` and every profile of the repository's params.yaml."""
    try:
        profiles = (yaml.safe_load(params_file.read_text()) or {}).get("profiles") or {}
    except (OSError, yaml.YAMLError):
        profiles = {}
    return (
        ("smoke", "default", *sorted(set(profiles) - {"smoke", "default"}))
        if "smoke" in profiles
        else (
            "default",
            *sorted(profiles),
        )
    )


def data_methods() -> tuple[str, ...]:
    from causal_llm.data import DATA_METHODS

    return tuple(DATA_METHODS.names())


def infer_methods() -> tuple[str, ...]:
    from causal_llm.infer import INFER_METHODS

    return tuple(INFER_METHODS.names())
