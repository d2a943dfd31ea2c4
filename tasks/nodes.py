"""Task: one lifecycle node, reproduced by DVC and logged to its MLflow child run."""

import asyncio

from prefect import task
from prefect.runtime import flow_run

from causal_llm.ops.nodes import execute_node


@task(name="node", task_run_name="{node_id}")
async def run_node(
    node_id: str, parent_run_id: str | None, tracking_uri: str, experiment: str, force: bool = False
) -> bool:
    """Returns False when DVC found the node up to date and skipped it."""
    tags = {"prefect.flow_run_id": str(flow_run.id), "prefect.flow_name": str(flow_run.flow_name)}
    return await asyncio.to_thread(execute_node, node_id, parent_run_id, tracking_uri, experiment, tags, force)
