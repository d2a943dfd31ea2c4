"""Task: validate params and make the requested profile and overrides the ones DVC sees."""

from typing import Any

from prefect import task

from causal_llm.pipeline import activate_params


@task(name="activate-params")
def prepare_params(params_file: str, profile: str, overrides: dict[str, Any] | None = None) -> dict:
    return activate_params(params_file, profile, overrides).to_dict()
