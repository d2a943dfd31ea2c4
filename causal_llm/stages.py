"""The lifecycle's stages as plain functions of ``Params``: what ``dvc.yaml`` runs, whoever asked.

Each stage reads its inputs from and writes its outputs to the paths below (DVC's deps and outs),
compares a baseline with its causal variant(s) on the same data and seed, and writes
``reports/<stage>/metrics.json``. The Prefect flows run these through ``dvc repro`` so that DVC alone
decides what is up to date.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from causal_llm.cda import AUGMENTERS, gender_swap
from causal_llm.config import Params
from causal_llm.corpus import read_json, read_jsonl, read_texts, write_json, write_jsonl
from causal_llm.metrics import MetricRow, mean_row
from causal_llm.registry import Registry
from causal_llm.testbed import (
    FEMALE,
    OCCUPATIONS,
    Question,
    bias_probes,
    build_scm,
    generate_judgements,
    generate_questions,
    generate_stories,
)

DATA = Path("data/testbed")
BENCHMARKS = Path("data/benchmarks")
MODELS = Path("models")
REPORTS = Path("reports")
STORY_FIELDS = {
    "text": str,
    "gender": int,
    "occupation": int,
    "occupation_name": str,
    "experience": int,
    "training": int,
    "skill": int,
    "promotion": int,
    "name": str,
    "template": int,
}

STAGES: Registry[Callable[[Params], None]] = Registry("stage")


def log(stage: str, message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {stage}: {message}", flush=True)


@dataclass(frozen=True)
class ModelVariant:
    name: str  # "<stage>/<variant>", the row label in every table
    stage: str
    ref: str  # a model reference for causal_llm.models.load_model


def finetune_base(params: Params) -> str:
    base = params.finetune.base_model
    return str(MODELS / "pretrain" / base.split(":", 1)[1]) if base.startswith("pretrain:") else base


def model_variants(params: Params) -> list[ModelVariant]:
    """Every model the lifecycle produces (and the external base model, if one is used)."""
    variants = [ModelVariant(f"pretrain/{v}", "pretrain", str(MODELS / "pretrain" / v)) for v in ("baseline", "cda")]
    if not params.finetune.base_model.startswith("pretrain:"):
        variants.insert(
            0,
            ModelVariant(f"base/{Path(params.finetune.base_model).name}", "base", params.finetune.base_model),
        )
    variants += [ModelVariant(f"finetune/{v}", "finetune", str(MODELS / "finetune" / v)) for v in ("sft", "cf_sft")]
    variants.append(ModelVariant("align/dpo_cf", "align", str(MODELS / "align" / "dpo_cf")))
    return variants


def read_stories(name: str) -> pd.DataFrame:
    return pd.DataFrame(read_jsonl(DATA / f"{name}.jsonl", STORY_FIELDS))


def stereotype_share(texts: list[str]) -> np.ndarray:
    """Per testbed story: 1 if its pronouns match its occupation's stereotype, read from the text alone
    (so it measures any augmenter's output); texts naming no testbed occupation are left out."""
    stereo = {occ: g == FEMALE for occ, g in OCCUPATIONS}
    out = []
    for text in texts:
        words = text.lower().replace(".", " ").split()
        occ = next((w for w in words if w in stereo), None)
        if occ is not None:
            out.append(float((words.count("she") > words.count("he")) == stereo[occ]))
    return np.array(out)


@STAGES.register("data")
def run_data(params: Params) -> None:
    cfg = params.data
    stories = generate_stories(cfg.spurious_strength, cfg.n_stories, params.seed)
    n_heldout = int(len(stories) * cfg.heldout_fraction)
    heldout, train = stories.iloc[:n_heldout], stories.iloc[n_heldout:]
    extra = read_texts(cfg.corpus_file) if cfg.corpus_file else []
    texts = list(train["text"]) + extra
    augmented = AUGMENTERS.get(cfg.augmenter)(texts, params.seed)
    write_jsonl(DATA / "train.jsonl", train.to_dict("records"))
    write_jsonl(DATA / "heldout.jsonl", heldout.to_dict("records"))
    write_jsonl(DATA / "corpus_original.jsonl", ({"text": t} for t in texts))
    write_jsonl(DATA / "corpus_cda.jsonl", ({"text": t} for t in augmented))
    write_jsonl(DATA / "questions.jsonl", (q.__dict__ for q in generate_questions(cfg.spurious_strength)))
    # The spurious association as each corpus carries it: share of stories whose pronoun fits the stereotype.
    kw = params.evaluate.bootstrap_args(params.seed)
    rows = [
        mean_row(stereotype_share(texts), "data/original", "data", "stereotype_share", **kw),
        mean_row(stereotype_share(augmented), f"data/{cfg.augmenter}", "data", "stereotype_share", **kw),
    ]
    write_json(
        REPORTS / "data" / "metrics.json",
        {"rows": [r.to_dict() for r in rows], "n_train": len(train), "n_heldout": n_heldout},
    )
    log(
        "data",
        f"{len(train)} train / {n_heldout} held-out stories; stereotype share "
        f"{rows[0].value:.3f} -> {rows[1].value:.3f} after {cfg.augmenter}",
    )


@STAGES.register("pretrain")
def run_pretrain(params: Params) -> None:
    from causal_llm.distributed import pretrain_on_ray
    from causal_llm.pretrain import PretrainJob

    jobs = [
        PretrainJob("baseline", read_texts(DATA / "corpus_original.jsonl")),
        PretrainJob("cda", read_texts(DATA / "corpus_cda.jsonl")),
    ]
    log("pretrain", f"training {[j.variant for j in jobs]} on Ray ({params.pretrain.num_workers} worker(s))")
    summaries = pretrain_on_ray(jobs, params.pretrain, params.seed, MODELS / "pretrain", Path("build/ray"))
    write_json(REPORTS / "pretrain" / "metrics.json", {"variants": summaries})
    for variant, s in summaries.items():
        log(
            "pretrain",
            f"{variant}: loss {s['loss_first']:.3f} -> {s['loss_last']:.3f}, {s['tokens_per_s']:.0f} tokens/s",
        )


@STAGES.register("finetune")
def run_finetune(params: Params) -> None:
    from causal_llm.finetune import counterfactual_examples, finetune_lora, instruction_examples

    cfg, train = params.finetune, read_stories("train")
    examples = instruction_examples(list(train["text"]), list(train["occupation_name"]), cfg.n_examples, params.seed)
    variants = {"sft": examples, "cf_sft": counterfactual_examples(examples, gender_swap)}
    summaries = {}
    for variant, data in variants.items():
        log("finetune", f"LoRA SFT '{variant}' on {len(data)} examples from {finetune_base(params)}")

        def progress(m: dict[str, float], variant: str = variant) -> None:
            log("finetune", f"{variant}: step {m['step']} loss {m['loss']:.3f}")

        result = finetune_lora(finetune_base(params), data, cfg, params.seed, MODELS / "finetune" / variant, progress)
        summaries[variant] = {**result.summary(), "losses": result.losses, "n_examples": len(data)}
        log(
            "finetune",
            f"{variant}: loss {summaries[variant]['loss_first']:.3f} -> {summaries[variant]['loss_last']:.3f}",
        )
    write_json(REPORTS / "finetune" / "metrics.json", {"variants": summaries})


@STAGES.register("align")
def run_align(params: Params) -> None:
    from causal_llm.align import counterfactual_pairs, train_dpo

    judgements = generate_judgements(read_stories("train"), gender_swap)
    pairs = counterfactual_pairs(judgements, params.align.n_pairs)
    log("align", f"DPO on {len(pairs)} counterfactual preference pairs on top of finetune/sft")
    summary = train_dpo(str(MODELS / "finetune" / "sft"), pairs, params.align, params.seed, MODELS / "align" / "dpo_cf")
    write_json(REPORTS / "align" / "metrics.json", {"variants": {"dpo_cf": {**summary, "n_pairs": len(pairs)}}})
    log(
        "align",
        f"dpo_cf: preference margin {summary['margin_reference']:.3f} -> {summary['margin_policy']:.3f}",
    )


@STAGES.register("benchmarks")
def run_benchmarks(params: Params) -> None:
    from causal_llm.benchmarks.generate import write_generated

    cfg = params.benchmarks
    manifest = write_generated(
        BENCHMARKS, params.seed, cfg.cladder_models_per_family, cfg.corr2cause_graphs, cfg.corr2cause_variables
    )
    counts = ", ".join(f"{n} {name}" for name, n in manifest["items"].items())
    log("benchmarks", f"{counts} items in {BENCHMARKS}")


def read_questions() -> list[Question]:
    fields = {"id": str, "rung": int, "query_type": str, "text": str, "answer": str, "truth": float}
    return [Question(**row) for row in read_jsonl(DATA / "questions.jsonl", fields)]


@STAGES.register("infer")
def run_infer(params: Params) -> None:
    from causal_llm.infer import answer_questions
    from causal_llm.models import load_model, load_tokenizer

    questions, scm = read_questions(), build_scm(params.data.spurious_strength)
    rows = []
    for variant in model_variants(params):
        model, tokenizer = load_model(variant.ref), load_tokenizer(variant.ref)
        for strategy in params.infer.strategies:
            answers = answer_questions(model, tokenizer, questions, scm, strategy, params.infer.batch_size)
            rows += [{"variant": variant.name, **a} for a in answers]
            log(
                "infer",
                f"{variant.name} [{strategy}]: {np.mean([a['correct'] for a in answers]):.3f} correct",
            )
    write_jsonl(REPORTS / "infer" / "answers.jsonl", rows)


def item_table(variant: str, benchmark: str) -> Path:
    """Per-item results of one benchmark for one variant (an MLflow artifact of its evaluate run)."""
    return REPORTS / "evaluate" / "items" / variant.replace("/", "__") / f"{benchmark}.jsonl"


@STAGES.register("evaluate")
def run_evaluate(params: Params) -> None:
    import torch

    from causal_llm.benchmarks.runner import evaluate_benchmark, load_benchmark
    from causal_llm.evaluate import accuracy_rows, evaluate_model
    from causal_llm.models import describe_model, load_model, load_tokenizer

    cfg = params.evaluate
    benches = [load_benchmark(b, limit=cfg.benchmark_limit, sample_seed=params.seed) for b in cfg.benchmarks]
    heldout = read_stories("heldout")
    judgements = generate_judgements(heldout.iloc[: cfg.n_invariance], gender_swap)
    texts = list(heldout["text"].iloc[: cfg.n_heldout])
    answers = read_jsonl(REPORTS / "infer" / "answers.jsonl", {"variant": str, "strategy": str, "correct": int})
    rows: list[MetricRow] = []
    scorers: dict[str, dict] = {}
    benchmark_results: list[dict] = []
    for variant in model_variants(params):
        model, tokenizer = load_model(variant.ref), load_tokenizer(variant.ref)
        rows += evaluate_model(
            variant.name, variant.stage, model, tokenizer, bias_probes(), judgements, texts, cfg, params.seed
        )
        rows += accuracy_rows(
            [a for a in answers if a["variant"] == variant.name],
            variant.name,
            variant.stage,
            cfg,
            params.seed,
        )
        scorers[variant.name] = {
            "model": describe_model(variant.ref),
            "dtype": str(next(model.parameters()).dtype),
            "device": str(next(model.parameters()).device),
            "batch_size": cfg.batch_size,
            "seed": params.seed,
            "torch": torch.__version__,
        }
        for bench in benches:
            result = evaluate_benchmark(
                model,
                tokenizer,
                bench,
                scorers[variant.name]["model"],
                variant.name,
                variant.stage,
                cfg.batch_size,
                params.seed,
                cfg.n_bootstrap,
                cfg.confidence,
            )
            # One table for all benchmarks: name rows by benchmark (two files of one format stay apart);
            # the exact solver's reference rows are the same for every variant, so they are kept once.
            for m in result.metrics:
                metric = f"{bench.name}/{m['metric'].split('/', 1)[1]}"
                if not any(r.variant == m["variant"] and r.metric == metric for r in rows):
                    rows.append(MetricRow(**{**{k: m[k] for k in MetricRow.__dataclass_fields__}, "metric": metric}))
            benchmark_results.append({**result.to_dict(), "variant": variant.name, "items": None})
            write_jsonl(item_table(variant.name, bench.name), result.items)
        gap = next(r for r in rows if r.variant == variant.name and r.metric == "bias_gap")
        log("evaluate", f"{variant.name}: bias_gap {gap.value:+.3f} [{gap.ci_low:+.3f}, {gap.ci_high:+.3f}]")
    write_json(
        REPORTS / "evaluate" / "results.json",
        {"rows": [r.to_dict() for r in rows], "scorers": scorers, "benchmarks": benchmark_results},
    )


@STAGES.register("report")
def run_report(params: Params) -> None:
    from causal_llm.report import write_report

    rows = (
        read_json(REPORTS / "data" / "metrics.json")["rows"] + read_json(REPORTS / "evaluate" / "results.json")["rows"]
    )
    write_report([MetricRow(**r) for r in rows], REPORTS / "lifecycle")
