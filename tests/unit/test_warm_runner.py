"""The warm runner: a forked child runs the command exactly as a fresh process would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from causal_llm.ops.warm_runner import WarmRunner

ROOT = Path(__file__).resolve().parents[2]
CLIENT = (
    "import sys; from causal_llm.ops.warm_runner import run_client; "
    "sys.exit(run_client(sys.argv[1], sys.argv[2], sys.argv[2:]))"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runner = WarmRunner(tmp_path_factory.mktemp("warm"), ("json", "tests.unit.warm_entry"))
    env_before = os.environ.get("CAUSAL_LLM_WARM_RUNNER")
    cwd, path_before = os.getcwd(), os.environ.get("PYTHONPATH")
    os.chdir(ROOT)
    os.environ["PYTHONPATH"] = str(ROOT)  # the server imports tests.unit.warm_entry from the repository
    try:
        runner.start()
        assert runner.wait_ready(60), "the warm runner did not come up"
        yield runner
    finally:
        runner.stop()
        os.chdir(cwd)
        if path_before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = path_before
        if env_before is not None:
            os.environ["CAUSAL_LLM_WARM_RUNNER"] = env_before
    assert runner.proc.poll() is not None and not Path(runner.path).exists()


def client(server, entry: str, *args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "WARM_TEST_MARKER": "from-the-client", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", CLIENT, server.path, f"tests.unit.warm_entry:{entry}", *args]
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def test_the_child_gets_the_clients_arguments_folder_environment_and_terminal(server, tmp_path):
    proc = client(server, "report", "3", "x", cwd=tmp_path)
    out, err = proc.communicate(timeout=30)
    seen = json.loads(out)
    assert proc.returncode == 3  # the child's exit status, passed through
    assert seen["argv"] == ["3", "x"] and seen["cwd"] == str(tmp_path) and seen["marker"] == "from-the-client"
    assert seen["pid"] not in (proc.pid, server.proc.pid)
    assert "to stderr" in err


def test_killing_the_client_kills_its_child(server, tmp_path):
    proc = client(server, "sleep", "60", cwd=tmp_path)
    child = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process_state(child) not in ("gone", "Z"):
        time.sleep(0.1)
    assert process_state(child) in ("gone", "Z")  # exited (a zombie until the server reaps it)


def process_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (FileNotFoundError, ProcessLookupError):
        return "gone"


def test_a_killed_child_fails_its_client_as_a_killed_process_would(server, tmp_path):
    proc = client(server, "sleep", "60", cwd=tmp_path)
    child = int(proc.stdout.readline())
    os.kill(child, signal.SIGKILL)
    assert proc.wait(10) == 128 + signal.SIGKILL


def test_without_a_server_the_command_runs_in_its_own_process(tmp_path, monkeypatch):
    from causal_llm.ops import warm_runner

    monkeypatch.setenv("CAUSAL_LLM_WARM_RUNNER", str(tmp_path / "no.sock"))
    assert warm_runner.available() is None
    monkeypatch.delenv("CAUSAL_LLM_WARM_RUNNER")
    assert warm_runner.available() is None


def test_only_its_user_may_connect(server):
    import stat

    assert stat.S_IMODE(Path(server.path).stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(server.path).parent.stat().st_mode) == 0o700
