"""Experiment tracking behind a small protocol; MLflow is imported only when a tracker is made.

Runs are addressed by id (``MlflowClient``), never through MLflow's global active run, so tasks
that run in other threads or processes can log to the right run.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from causal_llm.registry import NotFound


class Tracker(Protocol):
    def start_run(self, name: str, parent_id: str | None = None, tags: Mapping[str, str] | None = None) -> str: ...
    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None: ...
    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None: ...
    def log_history(self, run_id: str, key: str, values: Sequence[float]) -> None: ...
    def log_artifacts(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None: ...
    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None: ...
    def end_run(self, run_id: str, status: str = "FINISHED") -> None: ...


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


def metric_key(metric: str) -> str:
    """The MLflow key a metric is logged under: ``/`` becomes ``.``, other characters MLflow refuses ``_``."""
    return re.sub(r"[^\w.\- ]", "_", metric.replace("/", "."))


def metrics_with_ci(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Metric rows as MLflow metrics: ``<metric>``, ``<metric>_ci_low``, ``<metric>_ci_high`` (compare reads these)."""
    out: dict[str, float] = {}
    for r in rows:
        out |= {r["metric"]: r["value"], f"{r['metric']}_ci_low": r["ci_low"], f"{r['metric']}_ci_high": r["ci_high"]}
    return out


def default_tracking_uri(root: str | Path = ".") -> str:
    return f"sqlite:///{(Path(root) / 'mlflow' / 'mlflow.db').resolve()}"


NO_TRACKING = "none"  # the tracking URI of a run without MLflow: a NullTracker records nothing


def resolve_tracking_uri(uri: str | None = None) -> str:
    """An explicit URI, else ``MLFLOW_TRACKING_URI`` (a server), else the SQLite store under ``mlflow/``."""
    import os

    return uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def make_tracker(tracking_uri: str, experiment: str, create: bool = True) -> Tracker:
    """An MLflow tracker for ``tracking_uri``, or the null tracker for ``none``."""
    if tracking_uri == NO_TRACKING:
        return NullTracker()
    return MlflowTracker(tracking_uri, experiment, create=create)


class NullTracker:
    """A tracker that records nothing: runs without MLflow (``causal-llm run --no-tracking``)."""

    tracking_uri = NO_TRACKING
    experiment_id = ""

    def start_run(self, name: str, parent_id: str | None = None, tags: Mapping[str, str] | None = None) -> str:
        import uuid

        return f"null-{uuid.uuid4().hex[:12]}"

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        pass

    def log_history(self, run_id: str, key: str, values: Sequence[float]) -> None:
        pass

    def log_artifacts(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        pass

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        pass

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        pass

    def find_runs(self, filter_string: str = "", max_results: int = 100) -> list[dict[str, Any]]:
        return []


class MlflowTracker:
    """MLflow through ``MlflowClient``; SQLite under ``mlflow/`` unless a URI is given."""

    def __init__(
        self, tracking_uri: str, experiment: str, artifact_root: str | None = None, create: bool = True
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

        self._Metric, self._Param, self._RunTag = Metric, Param, RunTag
        # The registry lives in the tracking store unless MLFLOW_REGISTRY_URI says otherwise; never a
        # URI some earlier code set process-wide with mlflow.set_registry_uri.
        registry_uri = os.environ.get("MLFLOW_REGISTRY_URI") or tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
        if artifact_root is None and tracking_uri.startswith("sqlite:///"):
            # Beside the database, not MLflow's default ./mlruns wherever the process happens to run.
            database = Path(tracking_uri.removeprefix("sqlite:///"))
            artifact_root = (database.parent / "artifacts").resolve().as_uri()
        found = self.client.get_experiment_by_name(experiment)
        if found is None and not create:
            known = sorted(e.name for e in self.client.search_experiments())
            raise NotFound(
                f"MLflow experiment '{experiment}' not found at {tracking_uri}; known: {', '.join(known) or 'none'}"
            )
        self.experiment_id = (
            found.experiment_id if found else self.client.create_experiment(experiment, artifact_location=artifact_root)
        )
        self.tracking_uri = tracking_uri

    def start_run(self, name: str, parent_id: str | None = None, tags: Mapping[str, str] | None = None) -> str:
        all_tags = dict(tags or {})
        if parent_id:
            all_tags["mlflow.parentRunId"] = parent_id
        return self.client.create_run(self.experiment_id, run_name=name, tags=all_tags).info.run_id

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        items = [self._Param(k, str(v)[:6000]) for k, v in flatten(params).items()]
        for i in range(0, len(items), 100):  # MLflow caps a batch at 100 params
            self.client.log_batch(run_id, params=items[i : i + 100])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        items = [
            self._Metric(metric_key(k), float(v), 0, step)
            for k, v in metrics.items()
            if isinstance(v, int | float) and math.isfinite(v)
        ]
        for i in range(0, len(items), 1000):
            self.client.log_batch(run_id, metrics=items[i : i + 1000])

    def log_history(self, run_id: str, key: str, values: Sequence[float]) -> None:
        items = [self._Metric(key, float(v), 0, step) for step, v in enumerate(values)]
        for i in range(0, len(items), 1000):
            self.client.log_batch(run_id, metrics=items[i : i + 1000])

    def log_artifacts(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(run_id, str(path), artifact_path)
        elif path.is_file():
            self.client.log_artifact(run_id, str(path), artifact_path)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.client.log_batch(run_id, tags=[self._RunTag(k, str(v)) for k, v in tags.items()])

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    # --- reading runs back (compare) -------------------------------------------------------------

    def find_runs(self, filter_string: str = "", max_results: int = 100) -> list[dict[str, Any]]:
        """Runs of this experiment, newest first, as plain dicts (see ``_record``)."""
        runs = self.client.search_runs(
            [self.experiment_id], filter_string, order_by=["attributes.start_time DESC"], max_results=max_results
        )
        return [_record(r) for r in runs]

    def get_run(self, run_id: str) -> dict[str, Any]:
        return _record(self.client.get_run(run_id))

    def read_json_artifact(self, run_id: str, path: str) -> Any | None:
        """A JSON artifact of a run, or None when the run has none at ``path``."""
        import json
        import tempfile

        from mlflow.exceptions import MlflowException

        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self.client.download_artifacts(run_id, path, tmp)
            except (MlflowException, OSError):
                return None
            return json.loads(Path(local).read_text())

    # --- model registry --------------------------------------------------------------------------

    def register_model(self, name: str, run_id: str, artifact_path: str, tags: Mapping[str, str]) -> str:
        """A new version of registered model ``name`` from a run's artifact folder; returns the version."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name)
        source = f"runs:/{run_id}/{artifact_path}"
        version = self.client.create_model_version(name, source, run_id, tags={k: str(v) for k, v in tags.items()})
        return str(version.version)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, str(value))

    def model_version(self, name: str, alias: str) -> dict[str, Any] | None:
        """The version an alias points at (version, run_id, tags), or None."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as err:  # only "no such model/alias" means None; a server error must not
            if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):  # look like "no champion"
                return None
            raise
        return {"version": str(found.version), "run_id": found.run_id, "tags": dict(found.tags)}


def _record(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "tags": dict(run.data.tags),
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
    }
