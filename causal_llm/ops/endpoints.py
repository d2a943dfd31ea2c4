"""Endpoints a run talks to, checked before any compute: an unreachable MLflow server, Prefect API or
Ray address is bad input like a missing file, and the error names the variable to fix within seconds
(an HTTP client's retries would otherwise hang for minutes)."""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.parse
import urllib.request

from causal_llm.config import ParamsError

TIMEOUT_S = 5.0


def _http_ok(url: str, timeout: float) -> str | None:
    """None when ``url`` answers 200, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code}"
    except (urllib.error.URLError, OSError, ValueError) as err:
        return str(getattr(err, "reason", err))


def check_mlflow(uri: str | None, timeout: float = TIMEOUT_S) -> None:
    if not uri or not uri.startswith(("http://", "https://")):
        return  # a SQLite or file store, or no tracking: nothing to reach
    reason = _http_ok(uri.rstrip("/") + "/health", timeout)
    if reason:
        raise ParamsError(
            f"MLFLOW_TRACKING_URI={uri}: no MLflow server answers ({reason}). Start one "
            "(`causal-llm mlflow-server`), fix the variable, or unset it to log to mlflow/mlflow.db."
        )


def check_prefect(url: str | None, timeout: float = TIMEOUT_S) -> None:
    if not url:
        return  # Prefect starts a temporary local API for the run
    reason = _http_ok(url.rstrip("/") + "/health", timeout)
    if reason:
        raise ParamsError(
            f"PREFECT_API_URL={url}: no Prefect API answers ({reason}). Start one (`causal-llm serve` or "
            "`prefect server start`), fix the variable, or unset it to run on a temporary local API."
        )


def check_ray(address: str | None, timeout: float = TIMEOUT_S) -> None:
    if not address or address in ("auto", "local"):
        return
    parsed = urllib.parse.urlparse(address if "://" in address else f"tcp://{address}")
    if not parsed.hostname or not parsed.port:
        raise ParamsError(f"RAY_ADDRESS={address}: expected HOST:PORT (the head's GCS address) or ray://HOST:PORT.")
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout):
            pass
    except OSError as err:
        raise ParamsError(
            f"RAY_ADDRESS={address}: nothing answers there ({err}). Start the head (`ray start --head`), fix the "
            "variable, or unset it to let the run start a local Ray instance."
        ) from None


def check_endpoints(tracking_uri: str | None = None) -> None:
    """Every endpoint this environment names: MLflow, the Prefect API, Ray."""
    check_mlflow(tracking_uri if tracking_uri is not None else os.environ.get("MLFLOW_TRACKING_URI"))
    check_prefect(os.environ.get("PREFECT_API_URL"))
    check_ray(os.environ.get("RAY_ADDRESS"))
