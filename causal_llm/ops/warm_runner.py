"""A warm process that starts lifecycle nodes by ``fork``: no Python start-up or imports per node.

Each node DVC runs is a command, ``causal-llm stage NODE``; started cold, the process spends 3-6 s
(on 2 CPUs) importing torch, transformers, peft and the platform before the node's first line of
work. During a lifecycle run, ``causal-llm stage`` hands its command to this server instead: the
server imported all of that once, forks a child for each node, and the child runs exactly what the
cold process would have (the entry point the client names, ``app.cli:main``) with the
client's arguments, working folder, environment and terminal (its stdin, stdout and stderr are
passed over the socket). The client waits and returns the child's exit status, so DVC sees what it
always sees. Killing the client kills the child; killing the child fails the client. Without the
server the command runs in its own process, unchanged.

The server forks only while it is single-threaded (checked), never uses torch before forking, and
exits when the process that started it is gone.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

ENV = "CAUSAL_LLM_WARM_RUNNER"  # the socket of the lifecycle run's server
PRELOAD = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "datasets",
    "ray",
    "ray.train.torch",
    "causal_llm.dag",
    "causal_llm.params",
    "causal_llm.training.jobs",
    "causal_llm.training.ray_edge",
    "causal_llm.evaluate.stage",
    "causal_llm.evaluate.report",
    "causal_llm.evaluate.testbed_metrics",
    "causal_llm.benchmarks.runner",
    "causal_llm.models.loading",
    "causal_llm.scoring",
)


def _send(conn: socket.socket, obj: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(obj).encode()
    payload = struct.pack("!I", len(data)) + data
    if fds:
        socket.send_fds(conn, [payload], fds)
    else:
        conn.sendall(payload)


def _recv(conn: socket.socket, with_fds: int = 0) -> tuple[dict | None, list[int]]:
    if with_fds:
        data, fds, _, _ = socket.recv_fds(conn, 1 << 20, with_fds)
    else:
        data, fds = conn.recv(1 << 20), []
    if len(data) < 4:
        return None, fds
    (length,) = struct.unpack("!I", data[:4])
    body = data[4:]
    while len(body) < length:
        more = conn.recv(length - len(body))
        if not more:
            return None, fds
        body += more
    return json.loads(body), fds


# --- client --------------------------------------------------------------------------------------


def available() -> str | None:
    """The server's socket when this process runs inside a lifecycle run that has one."""
    path = os.environ.get(ENV)
    return path if path and Path(path).exists() else None


def run_client(path: str, entry: str, argv: list[str]) -> int:
    """Have the server run ``entry`` (``module:function``, called with ``argv[1:]``) in a forked child;
    returns the child's exit status, as a shell reports it."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    _send(conn, {"entry": entry, "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}, [0, 1, 2])
    reply, _ = _recv(conn)
    if reply is None or "pid" not in reply:
        return 255
    child = int(reply["pid"])

    def forward(sig: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, sig)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    reply, _ = _recv(conn)
    if reply is None:
        return 255
    code = int(reply["exit"])
    return 128 - code if code < 0 else code  # killed by signal N: the shell's 128 + N


# --- server --------------------------------------------------------------------------------------


def _child(conn: socket.socket, listener: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: become the node's process and run the command as a fresh one would."""
    try:
        listener.close()
        conn.close()
        os.setsid()  # its own process group: the client can signal the whole node
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop(ENV, None)  # this process is the node: it runs the command itself
        _reread_ray_config()
        sys.argv = request["argv"]
        module, _, function = request["entry"].partition(":")
        code = getattr(importlib.import_module(module), function)(request["argv"][1:])
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child must never return into the server's loop
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _reread_ray_config() -> None:
    """Ray caches its configuration (the authentication mode among it) when it is imported; the
    server imported it before the run's Ray instance existed, so the child reads it again."""
    raylet = sys.modules.get("ray._raylet")
    if raylet is not None:
        raylet.Config.initialize("")


def serve(path: str, preload: tuple[str, ...] = PRELOAD) -> None:
    parent = os.getppid()
    for module in preload:
        importlib.import_module(module)
    if threading.active_count() != 1:  # forking a threaded process can deadlock the child
        raise SystemExit(f"warm runner: {threading.active_count()} threads after imports; not serving")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}"
    listener.bind(tmp)
    os.chmod(tmp, 0o600)  # it runs whatever it is sent: only this user may connect
    listener.listen(64)
    os.replace(tmp, path)  # the socket appears only once the server can fork
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    stopping: list[bool] = []
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    children: dict[int, socket.socket] = {}
    try:
        while os.getppid() == parent and not stopping:
            for key, _ in selector.select(timeout=1.0):
                if key.data == "accept":
                    conn, _ = listener.accept()
                    request, fds = _recv(conn, with_fds=3)
                    if request is None or len(fds) != 3:
                        conn.close()
                        continue
                    pid = os.fork()
                    if pid == 0:
                        _child(conn, listener, request, fds)
                    for fd in fds:
                        os.close(fd)
                    _send(conn, {"pid": pid})
                    children[pid] = conn
                    selector.register(conn, selectors.EVENT_READ, pid)
                elif key.data == "child":
                    os.read(wake_r, 4096)
                    _reap(children, selector)
                else:  # the client went away before its node finished: stop the node
                    pid = key.data
                    selector.unregister(key.fileobj)
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
            _reap(children, selector)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        Path(path).unlink(missing_ok=True)
    os._exit(0)  # no interpreter teardown of everything preloaded: the run waits for this


def _reap(children: dict[int, socket.socket], selector: selectors.BaseSelector) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is None:
            continue
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(conn)
        with contextlib.suppress(OSError):  # the client may be gone already
            _send(conn, {"exit": code})
        conn.close()


class WarmRunner:
    """The lifecycle run's server: started in the background, stopped with the run."""

    def __init__(self, folder: Path, preload: tuple[str, ...] = PRELOAD) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        self.path = str((folder / f"warm-{os.getpid()}.sock").resolve())
        self.preload = preload
        self.proc: subprocess.Popen | None = None

    def start(self) -> str:
        Path(self.path).unlink(missing_ok=True)
        # -P: the code this process imported, not a copy that happens to be in the working folder.
        command = [sys.executable, "-P", "-m", "causal_llm.ops.warm_runner", self.path, *self.preload]
        self.proc = subprocess.Popen(command)
        os.environ[ENV] = self.path  # nodes started before the server is ready run in their own process
        return self.path

    def wait_ready(self, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc is not None and self.proc.poll() is None:
            if Path(self.path).exists():
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if os.environ.get(ENV) == self.path:
            del os.environ[ENV]
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        Path(self.path).unlink(missing_ok=True)


if __name__ == "__main__":
    serve(sys.argv[1], tuple(sys.argv[2:]) or PRELOAD)
