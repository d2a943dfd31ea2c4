"""Local servers for the platform: a Prefect API/UI and an MLflow tracking server, on 127.0.0.1 by default.

Both run as child processes of ``causal-llm serve`` / ``causal-llm mlflow-server`` and stop with it.
No Prefect or MLflow import here: they are started through their own command-line programs.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from causal_llm.config import ParamsError


class ServerError(RuntimeError):
    """A server that would not start; the message says which, where its log is and what to do."""


@dataclass(frozen=True)
class MlflowServerConfig:
    host: str = "127.0.0.1"
    port: int = 5000
    backend_store_uri: str | None = None  # None: $MLFLOW_BACKEND_STORE_URI or SQLite under mlflow/
    artifacts_destination: str | None = None  # None: $MLFLOW_ARTIFACTS_DESTINATION or mlflow/artifacts

    def backend(self) -> str:
        uri = self.backend_store_uri or os.environ.get("MLFLOW_BACKEND_STORE_URI")
        return uri or f"sqlite:///{Path('mlflow/mlflow.db').resolve()}"

    def artifacts(self) -> str:
        dest = self.artifacts_destination or os.environ.get("MLFLOW_ARTIFACTS_DESTINATION")
        return dest or str(Path("mlflow/artifacts").resolve())

    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _bin(name: str) -> str:
    """The program from this interpreter's environment, even when it was never activated."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def is_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float, what: str) -> None:
    """Wait for ``url``; on failure, timeout or an interrupt (Ctrl-C, SIGTERM) the server is stopped."""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
                raise ServerError(f"{what} exited with code {proc.returncode} (log: {log}):\n{tail}")
            if is_healthy(url):
                return
            time.sleep(0.5)
        raise ServerError(f"{what} did not answer {url} within {timeout:.0f} s (log: {log})")
    except BaseException:
        stop([proc])
        raise


def _start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )


def _die_with_parent() -> Callable[[], None] | None:
    """What the server's process runs before it starts (Linux): SIGTERM when the process that
    started it is gone, even killed by SIGKILL (``PR_SET_PDEATHSIG``), so a killed ``serve`` leaves
    no server listening. libc is loaded here, before the fork: the child only makes the call."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def mlflow_server_command(cfg: MlflowServerConfig) -> list[str]:
    backend = cfg.backend()
    if backend.startswith("postgresql") and importlib.util.find_spec("psycopg2") is None:
        raise ParamsError(
            f"MLflow backend {backend.split('@')[-1]}: Postgres needs psycopg2; run "
            "`pip install -e '.[postgres]'` or use the SQLite default."
        )
    if backend.startswith("sqlite:///"):
        Path(backend.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # One worker: four made each request ~44 ms here (docs/architecture.md#measured-costs).
    return [
        _bin("mlflow"),
        "server",
        "--host",
        cfg.host,
        "--port",
        str(cfg.port),
        "--workers",
        "1",
        "--backend-store-uri",
        backend,
        "--artifacts-destination",
        cfg.artifacts(),
    ]


def start_mlflow_server(cfg: MlflowServerConfig, log: Path, timeout: float = 120) -> subprocess.Popen:
    if port_in_use(cfg.host, cfg.port):
        raise ServerError(f"{cfg.host}:{cfg.port} is already in use; pass --mlflow-port or stop what listens there.")
    proc = _start(mlflow_server_command(cfg), log, {**os.environ})
    wait_healthy(f"{cfg.url()}/health", proc, log, timeout, "mlflow server")
    return proc


def start_prefect_server(host: str, port: int, log: Path, timeout: float = 180) -> subprocess.Popen:
    if port_in_use(host, port):
        raise ServerError(f"{host}:{port} is already in use; pass --port, or set PREFECT_API_URL to that server.")
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)  # the server itself must not point at another API
    proc = _start([_bin("prefect"), "server", "start", "--host", host, "--port", str(port)], log, env)
    wait_healthy(f"http://{host}:{port}/api/health", proc, log, timeout, "prefect server")
    return proc


def stop(procs: list[subprocess.Popen], timeout: float = 20) -> None:
    """Stop each server and everything it started: each runs in its own process group (session)."""
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)  # the server's own workers (uvicorn) too
