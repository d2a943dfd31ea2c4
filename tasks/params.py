"""Tasks: validate params and endpoints, and make the run's profile and overrides what DVC sees."""

from typing import Any

from prefect import task

from causal_llm.ops.endpoints import check_endpoints
from causal_llm.ops.params_file import activate_params, run_overrides
from causal_llm.params import load_params


@task(name="check-endpoints")
def check_services(tracking_uri: str | None) -> None:
    check_endpoints(tracking_uri)


@task(name="run-overrides")
def form_overrides(params_file: str, profile: str, choices: dict[str, Any], extra: dict[str, Any] | None) -> dict:
    """The form's fields as params overrides (which data variants are causal, which strategies exist)."""
    return run_overrides(load_params(params_file, profile), **choices, extra=extra)


@task(name="activate-params")
def prepare_params(params_file: str, profile: str, overrides: dict[str, Any] | None = None) -> dict:
    return activate_params(params_file, profile, overrides).to_dict()
