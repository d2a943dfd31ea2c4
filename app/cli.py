"""``causal-llm``: run the lifecycle, one node, the servers, or set up the offline model.

causal-llm run --profile smoke|default [--params FILE] [--set KEY=VALUE ...] [--experiment NAME] [--no-push]
               [--no-tracking] [--force]
causal-llm serve [--host 127.0.0.1] [--port 4200] [--no-server] [--no-mlflow] [--schedules]
causal-llm mlflow-server [--host 127.0.0.1] [--port 5000] [--backend-store-uri URI]
causal-llm compare [--experiment NAME] [--runs ID ID ...]
causal-llm stage NODE [--params FILE]      # what dvc.yaml runs: params, testbed, pretrain/baseline, ...
causal-llm dvc-yaml [--params FILE]        # rewrite dvc.yaml from params.yaml (one stage per node)
causal-llm methods                         # every registered method of every stage, with its settings
causal-llm check [--params FILE] [--profile NAME]
causal-llm setup-model                     # convert SmolLM2-135M-Instruct to safetensors once
causal-llm evaluate --model PATH_OR_ID --benchmark NAME_OR_FILE [...] [--format F] [--limit N]
                    [--batch-size N] [--strict] --output FILE.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from causal_llm.config import InputError
from causal_llm.registry import NotFound


def _quiet_env() -> None:
    """Analytics off and no hub traffic: this is a CLI entry point, so it may set its environment."""
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # A fresh PREFECT_HOME migrates its database first: more than Prefect's 20 s on a busy 2-CPU machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # "Writing model shards" bars from every worker
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keeps the printed tables readable
    os.environ.setdefault(
        "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5"
    )  # report() polls faster (docs/architecture.md#measured-costs)
    os.environ.setdefault("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "0")
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")  # rank 0's progress lines once, not twice
    # Ray Train fails a job whose workers wait over 60 s for CPUs; on a shared cluster they may wait longer.
    os.environ.setdefault("RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S", "900")
    # A server that stops answering mid-run fails in seconds, not after minutes of HTTP retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from causal_llm.ops.endpoints import check_endpoints
    from causal_llm.ops.params_file import activate_params, parse_overrides
    from causal_llm.tracking import NO_TRACKING

    overrides = parse_overrides(args.set)
    tracking_uri = NO_TRACKING if args.no_tracking else None
    check_endpoints(tracking_uri)  # an unreachable server is bad input too: seconds, before any compute
    activate_params(args.params, args.profile, overrides)  # every input error surfaces here, before any compute
    from causal_llm.corpus import read_json
    from causal_llm.evaluate.report import format_table
    from causal_llm.metrics import is_headline
    from flows.lifecycle import lifecycle

    start = time.perf_counter()
    results = asyncio.run(
        lifecycle(
            profile=args.profile,
            overrides=overrides,
            params_file="params.yaml",
            experiment=args.experiment,
            push=not args.no_push,
            force=args.force,
            tracking_uri=tracking_uri,
        )
    )
    table = Path(results).with_name("results.txt")  # the report's text: paired differences, then the table
    rows = [r for r in read_json(results) if is_headline(r["metric"])]
    print("\n" + (table.read_text() if table.is_file() else format_table(rows)))
    where = "" if args.no_tracking else "; `mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db` shows the runs"
    print(f"\nresults: {results}  ({time.perf_counter() - start:.0f} s; plots and CSV beside it{where})")
    return 0


def cmd_stage(args: argparse.Namespace) -> int:
    """One node, as DVC runs it; the node's own outputs only."""
    from causal_llm.dag import Lifecycle, run_node
    from causal_llm.ops.dvc import check_dvc_yaml
    from causal_llm.params import load_params
    from causal_llm.timing import record

    started = time.time()
    lifecycle = Lifecycle(load_params(args.params))
    if args.node not in lifecycle.by_id:
        from causal_llm.registry import did_you_mean

        known = ", ".join(n.id for n in lifecycle.nodes)
        raise InputError(
            f"no node '{args.node}' in {args.params}.{did_you_mean(args.node, lifecycle.by_id)} Nodes: {known}."
        )
    check_dvc_yaml(lifecycle)
    node = lifecycle.by_id[args.node]
    _write_pid(node.dvc_name)
    begun = time.time()
    run_node(node, lifecycle)
    ended = time.time()
    process_start = _process_start()
    record("process", node.id, process_start, ended, imports=begun - process_start)
    print(
        f"causal-llm stage {node.id}: {ended - begun:.1f} s in the node, {ended - process_start:.1f} s in process "
        f"({started - process_start:.1f} s start-up)",
        flush=True,
    )
    return 0


def _process_start() -> float:
    from causal_llm.timing import process_started_at

    return process_started_at()


def _write_pid(name: str) -> None:
    """``.causal_llm/run/<node>.pid``: which process runs a node (to watch it, or to stop it)."""
    folder = Path(".causal_llm/run")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.pid").write_text(f"{os.getpid()}\n")


def cmd_dvc_yaml(args: argparse.Namespace) -> int:
    from causal_llm.dag import Lifecycle
    from causal_llm.ops.dvc import write_dvc_yaml
    from causal_llm.params import load_params

    lifecycle = Lifecycle(load_params(args.params))
    changed = write_dvc_yaml(lifecycle)
    print(f"dvc.yaml: {len(lifecycle.nodes)} stages ({'rewritten' if changed else 'already current'})")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    import dataclasses

    from causal_llm.lifecycle import VARIANT_STAGES, stage_spec

    for stage in VARIANT_STAGES:
        spec = stage_spec(stage)
        print(f"{stage}: {spec.description}")
        for name in spec.methods.names():
            method = spec.methods.get(name)
            fields = ", ".join(f.name for f in dataclasses.fields(method.config)) or "no settings"
            print(f"  {name:<16} {method.summary}  [{method.config.__name__}: {fields}]")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from causal_llm.dag import Lifecycle
    from causal_llm.ops.dvc import render_dvc_yaml
    from causal_llm.ops.endpoints import check_endpoints
    from causal_llm.ops.params_file import check_inputs
    from causal_llm.params import load_params

    params = load_params(args.params, args.profile)
    check_inputs(params)
    lifecycle = Lifecycle(params)
    check_endpoints()
    current = Path("dvc.yaml").is_file() and Path("dvc.yaml").read_text() == render_dvc_yaml(lifecycle)
    note = "dvc.yaml current" if current else "dvc.yaml differs (`causal-llm run` or `causal-llm dvc-yaml` rewrites it)"
    print(f"{args.params}: valid (profile '{params.profile}', {len(lifecycle.nodes)} nodes; {note})")
    return 0


def cmd_setup_model(args: argparse.Namespace) -> int:
    from causal_llm.models.pretrained import smollm2_folder

    print(smollm2_folder())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from causal_llm.benchmarks.runner import evaluate_benchmark, headline, load_benchmark
    from causal_llm.corpus import write_json
    from causal_llm.evaluate.report import format_table
    from causal_llm.models.loading import describe_model, load_model, load_tokenizer, pick_device

    # Every file is read (and every bad row reported) before the model is loaded.
    benches = [load_benchmark(b, args.format, args.strict, args.limit) for b in args.benchmark]
    for bench in benches:
        skipped = f", {len(bench.malformed)} malformed rows skipped" if bench.malformed else ""
        print(f"{bench.name}: {len(bench.items)} items ({bench.format}){skipped}", flush=True)
    device = pick_device() if args.device == "auto" else args.device
    model, tokenizer = load_model(args.model, device), load_tokenizer(args.model)
    model_name = describe_model(args.model)
    results = []
    for bench in benches:
        start = time.perf_counter()
        result = evaluate_benchmark(
            model,
            tokenizer,
            bench,
            model_name,
            Path(args.model).name,
            "evaluate",
            args.batch_size,
            args.seed,
            args.n_bootstrap,
            progress=not args.no_progress,
        )
        n_requests = sum(len(item.choices) for item in bench.items)
        print(f"{bench.name}: {n_requests / (time.perf_counter() - start):.1f} requests/s", flush=True)
        results.append(result.to_dict())
    write_json(args.output, {"model": model_name, "benchmarks": results})
    print("\n" + format_table([m for r in results for m in headline(r["metrics"])]))
    print(f"\nwrote {args.output} (per-item results and every breakdown inside)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import signal

    from app.servers import MlflowServerConfig, ServerError, start_mlflow_server, start_prefect_server, stop

    logs, procs = Path(".causal_llm/logs"), []
    for sig in (signal.SIGTERM, signal.SIGHUP):  # `finally` stops the servers (Prefect's runner exits so too)
        signal.signal(sig, lambda *_: sys.exit(0))
    try:
        if args.no_server:
            if not os.environ.get("PREFECT_API_URL"):
                raise InputError("--no-server needs PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)")
        else:
            procs.append(start_prefect_server(args.host, args.port, logs / "prefect-server.log"))
            os.environ["PREFECT_API_URL"] = f"http://{args.host}:{args.port}/api"
        if not args.no_mlflow and not os.environ.get("MLFLOW_TRACKING_URI"):
            cfg = MlflowServerConfig(args.host, args.mlflow_port)
            procs.append(start_mlflow_server(cfg, logs / "mlflow-server.log"))
            os.environ["MLFLOW_TRACKING_URI"] = cfg.url()
        print(f"Prefect UI:  {os.environ['PREFECT_API_URL'].removesuffix('/api')}", flush=True)
        print(f"MLflow:      {os.environ.get('MLFLOW_TRACKING_URI', 'sqlite:///mlflow/mlflow.db')}", flush=True)
        print(f"schedules:   {'on' if args.schedules else 'off (enable in the UI or with --schedules)'}", flush=True)
        from flows.deployments import serve_deployments

        serve_deployments(schedules_active=args.schedules)
    except ServerError as err:
        print(f"causal-llm: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        stop(procs)
    return 0


def cmd_mlflow_server(args: argparse.Namespace) -> int:
    from app.servers import MlflowServerConfig, mlflow_server_command

    cfg = MlflowServerConfig(args.host, args.port, args.backend_store_uri, args.artifacts_destination)
    cmd = mlflow_server_command(cfg)
    print(f"MLflow on {cfg.url()} (backend {cfg.backend().split('@')[-1]}, artifacts {cfg.artifacts()})", flush=True)
    os.execvp(cmd[0], cmd)  # the server replaces this process: signals and exit codes are its own
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from causal_llm.compare import format_comparison
    from causal_llm.ops.compare_runs import run_comparison
    from causal_llm.tracking import resolve_tracking_uri

    try:
        comparison, paths, run_id = run_comparison(
            resolve_tracking_uri(args.tracking_uri), args.experiment, args.runs, args.output, log=not args.no_log
        )
    except ValueError as err:  # too few runs, a child run's id, an id given twice: the message says what to pass
        print(f"causal-llm: error: {err}", file=sys.stderr)
        return 2
    print(format_comparison(comparison, headline_only=not args.all))
    print(f"\nwrote {args.output}/ ({len(paths)} files)" + (f"; MLflow run {run_id}" if run_id else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="causal-llm", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole lifecycle (Prefect flow over DVC stages)")
    run.add_argument("--profile", default="default", help="smoke (tiny, <3 min) or default (SmolLM2)")
    run.add_argument("--params", default="params.yaml", type=Path)
    run.add_argument("--experiment", default="causal-llm", help="MLflow experiment name")
    run.add_argument("--no-push", action="store_true", help="skip `dvc push` to the DVC remote")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a param after the profile, e.g. --set finetune.defaults.from=org/model (repeatable)",
    )
    run.add_argument("--force", action="store_true", help="re-run every node even if DVC finds it up to date")
    run.add_argument("--no-tracking", action="store_true", help="run without MLflow (a null tracker; no registry)")
    run.set_defaults(func=cmd_run)
    serve = sub.add_parser("serve", help="start the Prefect server and MLflow server, and serve the deployments")
    serve.add_argument("--host", default="127.0.0.1", help="interface the servers bind to")
    serve.add_argument("--port", type=int, default=4200, help="Prefect server port")
    serve.add_argument("--mlflow-port", type=int, default=5000)
    serve.add_argument("--no-server", action="store_true", help="use the Prefect API in PREFECT_API_URL")
    serve.add_argument(
        "--no-mlflow", action="store_true", help="no MLflow server (runs log to MLFLOW_TRACKING_URI or SQLite)"
    )
    serve.add_argument("--schedules", action="store_true", help="turn the weekly retrain/re-evaluate schedules on")
    serve.set_defaults(func=cmd_serve)
    mls = sub.add_parser("mlflow-server", help="start the MLflow tracking server (SQLite, or Postgres when configured)")
    mls.add_argument("--host", default="127.0.0.1")
    mls.add_argument("--port", type=int, default=5000)
    mls.add_argument("--backend-store-uri", default=None, help="default: $MLFLOW_BACKEND_STORE_URI or mlflow/mlflow.db")
    mls.add_argument(
        "--artifacts-destination", default=None, help="default: $MLFLOW_ARTIFACTS_DESTINATION or mlflow/artifacts"
    )
    mls.set_defaults(func=cmd_mlflow_server)
    cmp = sub.add_parser("compare", help="compare lifecycle runs from MLflow side by side, with CIs")
    cmp.add_argument("--experiment", default="causal-llm")
    cmp.add_argument("--runs", nargs="+", default=None, help="lifecycle run ids (default: the newest two finished)")
    cmp.add_argument("--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI or mlflow/mlflow.db")
    cmp.add_argument("--output", type=Path, default=Path("reports/compare"))
    cmp.add_argument("--all", action="store_true", help="print breakdown rows too (they are always in the CSV)")
    cmp.add_argument("--no-log", action="store_true", help="do not log the comparison as an MLflow run")
    cmp.set_defaults(func=cmd_compare)
    stage = sub.add_parser("stage", help="run one node (what dvc.yaml calls): params, testbed, pretrain/baseline, ...")
    stage.add_argument("node")
    stage.add_argument("--params", default="params.yaml", type=Path)
    stage.set_defaults(func=cmd_stage)
    dvcy = sub.add_parser("dvc-yaml", help="rewrite dvc.yaml from params.yaml (one DVC stage per node)")
    dvcy.add_argument("--params", default="params.yaml", type=Path)
    dvcy.set_defaults(func=cmd_dvc_yaml)
    methods = sub.add_parser("methods", help="list every registered method of every stage")
    methods.set_defaults(func=cmd_methods)
    check = sub.add_parser("check", help="validate a params file and the inputs it names")
    check.add_argument("--params", default="params.yaml", type=Path)
    check.add_argument("--profile", default=None)
    check.set_defaults(func=cmd_check)
    setup = sub.add_parser("setup-model", help="convert the offline SmolLM2-135M-Instruct once")
    setup.set_defaults(func=cmd_setup_model)
    ev = sub.add_parser("evaluate", help="score a model on benchmark files or generated benchmarks")
    ev.add_argument("--model", required=True, help="a model folder, a lifecycle model, or a Hugging Face id")
    ev.add_argument(
        "--benchmark",
        required=True,
        action="append",
        help="a named benchmark (cladder_gen, corr2cause_gen, "
        "testbed_probes) or a file/folder in a supported format; repeat for several",
    )
    ev.add_argument(
        "--format", default=None, help="crows_pairs|stereoset|winobias|copa|ecare|cladder|corr2cause|testbed"
    )
    ev.add_argument("--limit", type=int, default=None, help="score only the first N items")
    ev.add_argument("--batch-size", type=int, default=16)
    ev.add_argument("--strict", action="store_true", help="stop at the first malformed row instead of skipping it")
    ev.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")
    ev.add_argument("--n-bootstrap", type=int, default=1000)
    ev.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    ev.add_argument("--no-progress", action="store_true")
    ev.add_argument("--output", required=True, type=Path)
    ev.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["stage"]:  # inside a lifecycle run: the warm runner forks the node (no imports here)
        from causal_llm.ops.warm_runner import available, run_client

        socket_path = available()
        if socket_path is not None:
            return run_client(socket_path, "app.cli:main", [sys.argv[0], *argv])
    args = build_parser().parse_args(argv)
    _quiet_env()
    try:
        return args.func(args)
    except (InputError, NotFound) as err:  # bad input: the message says what to fix; bugs keep their traceback
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"causal-llm: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
