"""Local servers: safe defaults, clear errors, and stopping a server stops what it started."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from app.cli import main
from app.servers import MlflowServerConfig, mlflow_server_command, stop
from causal_llm.config import ParamsError


def test_mlflow_server_defaults_to_loopback_sqlite_and_one_worker(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_BACKEND_STORE_URI", raising=False)
    cmd = mlflow_server_command(MlflowServerConfig())
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--workers") + 1] == "1"
    assert cmd[cmd.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", "postgresql://u:secret@db/mlflow")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)  # as without the postgres extra
    with pytest.raises(ParamsError, match=r"db/mlflow: Postgres needs psycopg2.*\[postgres\]") as info:
        mlflow_server_command(MlflowServerConfig())
    assert "secret" not in str(info.value)  # the password never reaches a terminal or a log


def test_stop_ends_the_server_and_its_children(tmp_path):
    pidfile = tmp_path / "child.pid"
    proc = subprocess.Popen(["sh", "-c", f"sleep 300 & echo $! > {pidfile}; wait"], start_new_session=True)
    for _ in range(50):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        time.sleep(0.1)
    child = int(pidfile.read_text())
    stop([proc], timeout=10)
    assert proc.poll() is not None
    time.sleep(0.2)
    status = Path(f"/proc/{child}/status")
    assert not status.exists() or "zombie" in status.read_text()  # a worker the server started is gone too


def test_compare_with_too_few_runs_is_a_clear_error(tmp_path, monkeypatch, capsys):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    from causal_llm.tracking import MlflowTracker

    MlflowTracker(uri, "empty")
    code = main(["compare", "--experiment", "empty", "--tracking-uri", uri, "--output", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "causal-llm: error:" in err and "a comparison needs 2" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_server_stops_when_the_process_that_started_it_is_killed(tmp_path):
    """kill -9 of `serve` leaves no server behind: each server gets SIGTERM when its parent dies."""
    import subprocess
    import sys
    import time

    import psutil

    starter = (
        "import sys, time; from pathlib import Path; from app.servers import _start; "
        f"p = _start([sys.executable, '-c', 'import time; time.sleep(120)'], Path({str(tmp_path / 'log')!r}), {{}}); "
        "print(p.pid, flush=True); time.sleep(120)"
    )
    parent = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True)
    server = psutil.Process(int(parent.stdout.readline()))
    parent.kill()
    parent.wait(10)
    deadline = time.monotonic() + 10
    while server.is_running() and server.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE
