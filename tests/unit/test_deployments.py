"""Prefect deployments: every flow deployed, typed run forms in sync with the registries, schedules off."""

from __future__ import annotations

import typing
from pathlib import Path

from causal_llm.data import DATA_METHODS
from causal_llm.infer import INFER_METHODS
from flows import lifecycle as lifecycle_module
from flows.deployments import REEVALUATE_CRON, RETRAIN_CRON, build_deployments

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def _schema(deployment) -> dict:
    return deployment._parameter_openapi_schema.model_dump()


def test_every_flow_is_deployed_with_a_loadable_entrypoint():
    from prefect.flows import load_flow_from_entrypoint

    deployments = {d.name: d for d in build_deployments()}
    assert set(deployments) == {
        "lifecycle", "data", "benchmarks", "pretrain", "finetune", "align", "infer", "evaluate", "report",
        "register", "compare",
    }  # fmt: skip
    for name, deployment in deployments.items():
        assert deployment.entrypoint.startswith("flows/")  # relative to the repository `serve` runs in
        assert load_flow_from_entrypoint(deployment.entrypoint).name == name


def test_run_form_choices_match_what_the_platform_knows():
    form = _schema(build_deployments()[0])
    props = form["properties"]
    assert props["profile"]["enum"] == ["smoke", "default"]
    assert set(typing.get_args(lifecycle_module.Augmenter)) == set(DATA_METHODS.names())
    assert set(typing.get_args(lifecycle_module.Strategy)) == set(INFER_METHODS.names())
    assert props["augmenter"]["anyOf"][0]["enum"] == sorted(DATA_METHODS.names())  # generated, not listed
    for field in ("base_model", "augmenter", "prompting_strategies", "benchmarks", "seed", "overrides"):
        assert props[field]["description"], field  # the form explains each field


def yaml_profiles() -> list[str]:
    import yaml

    return ["default", *yaml.safe_load(REPO_PARAMS.read_text())["profiles"]]


def test_profile_choices_are_the_profiles_of_params_yaml():
    assert set(typing.get_args(lifecycle_module.Profile)) == set(yaml_profiles())


def test_weekly_schedules_exist_but_are_off_until_enabled():
    off = {d.name: d.schedules for d in build_deployments()}
    (retrain,) = off["lifecycle"]
    (reevaluate,) = off["evaluate"]
    assert (retrain.schedule.cron, retrain.active, retrain.parameters) == (RETRAIN_CRON, False, {"profile": "default"})
    assert (reevaluate.schedule.cron, reevaluate.active, reevaluate.parameters) == (
        REEVALUATE_CRON,
        False,
        {"force": True},
    )
    on = {d.name: d.schedules for d in build_deployments(schedules_active=True)}
    assert on["lifecycle"][0].active and on["evaluate"][0].active
