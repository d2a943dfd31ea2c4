"""An unreachable MLflow server, Prefect API or Ray address is bad input: a clear error in seconds."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from causal_llm.config import ParamsError
from causal_llm.ops.endpoints import check_endpoints, check_mlflow, check_prefect, check_ray


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def healthy_server():
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path in ("/health", "/api/health") else 404)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.parametrize(
    ("check", "variable"),
    [(check_mlflow, "MLFLOW_TRACKING_URI"), (check_prefect, "PREFECT_API_URL")],
)
def test_nothing_listening_is_named_within_seconds(check, variable):
    url = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(ParamsError) as info:
        check(url)
    assert time.monotonic() - start < 6
    assert str(info.value).startswith(f"{variable}={url}: no ")


def test_a_server_that_answers_passes(healthy_server):
    check_mlflow(healthy_server)
    check_prefect(f"{healthy_server}/api")
    with pytest.raises(ParamsError, match="HTTP 404"):
        check_mlflow(f"{healthy_server}/elsewhere")


def test_stores_that_need_no_server_are_not_checked():
    check_mlflow("sqlite:///mlflow/mlflow.db")
    check_mlflow("none")
    check_mlflow(None)
    check_prefect(None)
    check_ray(None)
    check_ray("auto")


def test_ray_addresses(healthy_server):
    port = int(healthy_server.rsplit(":", 1)[1])
    check_ray(f"127.0.0.1:{port}")  # something answers there
    with pytest.raises(ParamsError, match=r"RAY_ADDRESS=127.0.0.1:\d+: nothing answers there"):
        check_ray(f"127.0.0.1:{free_port()}")
    with pytest.raises(ParamsError, match="expected HOST:PORT"):
        check_ray("just-a-host")


def test_check_endpoints_reads_the_environment(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ParamsError, match="MLFLOW_TRACKING_URI"):
        check_endpoints()
    check_endpoints("none")  # a run without tracking does not need the server
