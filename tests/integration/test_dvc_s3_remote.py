"""The DVC remote on S3-compatible storage: `dvc push` from one clone, `dvc pull` into another.

The S3 endpoint is moto's standalone server (a real HTTP server speaking the S3 API on 127.0.0.1):
MinIO, which infra/docker-compose.yml uses, cannot be installed here. Nothing else is mocked:
real DVC, real dvc-s3/boto, real git clones, and the platform's own `dvc_push`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.workspace import git

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        from app.servers import is_healthy

        deadline = time.monotonic() + 60
        while not is_healthy(f"{url}/moto-api/") and time.monotonic() < deadline:
            time.sleep(0.3)
        import boto3

        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # moto accepts any
        boto3.client("s3", endpoint_url=url, region_name="us-east-1", **keys).create_bucket(Bucket="dvc")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def _dvc(repo: Path, *args: str) -> str:
    out = subprocess.run([str(BIN / "dvc"), *args], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def test_push_to_s3_and_pull_into_a_fresh_clone(tmp_path, s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q")
    _dvc(origin, "init", "-q")
    _dvc(origin, "remote", "add", "minio", "s3://dvc/causal-llm")
    _dvc(origin, "remote", "modify", "minio", "endpointurl", s3_endpoint)
    (origin / "data").mkdir()
    (origin / "data" / "corpus.jsonl").write_text('{"text": "The nurse said that she was ready."}\n' * 100)
    _dvc(origin, "add", "data/corpus.jsonl")
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "data")

    from causal_llm.ops.dvc import dvc_push

    monkeypatch.chdir(origin)
    monkeypatch.setenv("CAUSAL_LLM_DVC_REMOTE", "minio")  # what the lifecycle's push step reads
    assert "1 file pushed" in dvc_push()

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    shutil.rmtree(origin / ".dvc" / "cache")  # nothing local to fall back on
    _dvc(clone, "pull", "-r", "minio")
    assert (clone / "data" / "corpus.jsonl").read_text() == (origin / "data" / "corpus.jsonl").read_text()
