"""Task: validate params and make the requested profile the one DVC sees."""

from prefect import task

from causal_llm.pipeline import activate_params


@task(name="activate-params")
def prepare_params(params_file: str, profile: str) -> dict:
    return activate_params(params_file, profile).to_dict()
