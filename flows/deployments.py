"""Prefect deployments: the lifecycle and every stage, with typed run forms and weekly schedules.

``causal-llm serve`` registers them with the Prefect API (``PREFECT_API_URL``) and serves them from
this process: a run started in the UI, by a schedule or through the API executes here, in the
repository, one at a time (stages share one DVC workspace).
"""

from __future__ import annotations

from prefect import Flow
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.compare import compare_flow
from flows.lifecycle import STAGE_FLOWS, lifecycle
from flows.register import register_flow

# Monday 03:00 UTC retrains what changed (DVC skips the rest); 06:00 re-scores the models anyway.
RETRAIN_CRON = "0 3 * * 1"
REEVALUATE_CRON = "0 6 * * 1"
TAGS = ["causal-llm"]


def _entrypoint(flow: Flow) -> str:
    """``flows/<name>.py:<name>_flow`` relative to the repository, where ``serve`` runs: Prefect would
    derive it from the installed package's path (another checkout, with an editable install elsewhere)
    and cannot derive it at all for the stage flows the factory builds."""
    attribute = "lifecycle" if flow.name == "lifecycle" else f"{flow.name}_flow"
    return f"flows/{flow.name}.py:{attribute}"


def build_deployments(
    schedules_active: bool = False, retrain_cron: str = RETRAIN_CRON, reevaluate_cron: str = REEVALUATE_CRON
) -> list[RunnerDeployment]:
    """One deployment per flow. Schedules exist but stay off until ``schedules_active`` (or the UI's toggle)."""
    retrain = Cron(retrain_cron, timezone="UTC", active=schedules_active, parameters={"profile": "default"})
    deployments = [
        lifecycle.to_deployment(
            name="lifecycle",
            description="The whole lifecycle; the form sets profile, base model, methods, benchmarks and seed.",
            tags=TAGS,
            schedules=[retrain],
        )
    ]
    for stage_flow in STAGE_FLOWS:
        reevaluate = [Cron(reevaluate_cron, timezone="UTC", active=schedules_active, parameters={"force": True})]
        deployment = stage_flow.to_deployment(
            name=stage_flow.name,
            description=stage_flow.description,
            tags=[*TAGS, "stage"],
            schedules=reevaluate if stage_flow.name == "evaluate" else None,
        )
        deployments.append(deployment)
    for extra in (register_flow, compare_flow):
        deployments.append(extra.to_deployment(name=extra.name, description=extra.description, tags=TAGS))
    for deployment, flow in zip(deployments, (lifecycle, *STAGE_FLOWS, register_flow, compare_flow), strict=True):
        deployment.entrypoint = _entrypoint(flow)
    return deployments


def serve_deployments(schedules_active: bool = False) -> None:
    """Register the deployments and execute their runs here until interrupted."""
    from prefect import serve

    serve(*build_deployments(schedules_active), limit=1)  # one run at a time: one DVC workspace


if __name__ == "__main__":
    serve_deployments()
