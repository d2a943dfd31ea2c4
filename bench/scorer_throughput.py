"""Log-likelihood requests/s of our scorer against lm-evaluation-harness: same model, same items,
same machine, one run; per-item values compared; peak memory of each.

    .venv/bin/python bench/scorer_throughput.py [--models tiny smollm2] [--items 200]

Items come from the benchmark generators and formats the evaluate stage uses: CLadder-style
questions (long context, yes/no) and Corr2Cause premises (long context, yes/no), each as a seeded
random sample and as whole clusters (every question of a CLadder model, every hypothesis of a
premise, as a full run scores them); COPA-style items (short context, two multi-token choices) and
CrowS-Pairs-style sentence pairs (empty context). lm-eval runs its HFLM core
(``HFLM.loglikelihood``) at several batch sizes and its best is taken; each scorer runs in its own
process so that its peak RSS (or CUDA peak) is its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def tiny_model(folder: Path) -> str:
    """A 4-layer GPT-2 on a locally trained tokenizer, saved as safetensors (the default run's size)."""
    from causal_llm.models.loading import save_model
    from causal_llm.models.tiny import TinyGPT2Config, build_tiny_gpt2, train_tokenizer
    from causal_llm.testbed import generate_stories

    texts = list(generate_stories(0.9, 400, 0)["text"])
    tokenizer = train_tokenizer(texts, vocab_size=512)
    model = build_tiny_gpt2(TinyGPT2Config(n_layer=4, n_head=4, n_embd=128, block_size=512), tokenizer, seed=0)
    save_model(model, tokenizer, folder)
    return str(folder)


def item_sets(n: int, folder: Path, seed: int = 0) -> dict[str, list[list[tuple[str, str]]]]:
    """``n`` items of each kind, as (context, continuation) groups: one group per multiple-choice item."""
    from causal_llm.benchmarks.generate import write_generated
    from causal_llm.benchmarks.runner import load_benchmark

    write_generated(folder, seed)
    sets = {
        name: [item.requests() for item in load_benchmark(name, limit=n, sample_seed=seed, root=folder).items]
        for name in ("cladder_gen", "corr2cause_gen")
    }
    # A full run scores every question of a CLadder model and every hypothesis of a Corr2Cause premise;
    # whole clusters (the first ones holding ~n items) keep that sharing, a random sample loses most of it.
    for name, key in (
        ("cladder_gen", lambda i: i.meta["model_id"]),
        ("corr2cause_gen", lambda i: i.context.split("Hypothesis:")[0]),
    ):
        items = load_benchmark(name, root=folder).items
        clusters: dict = {}
        for item in items:
            clusters.setdefault(key(item), []).append(item)
        chosen: list = []
        for members in clusters.values():
            if len(chosen) >= n:
                break
            chosen += members
        sets[f"{name}_whole_clusters"] = [item.requests() for item in chosen]
    rng = random.Random(seed)
    words = [
        "the",
        "a",
        "nurse",
        "engineer",
        "said",
        "that",
        "she",
        "he",
        "was",
        "ready",
        "for",
        "work",
        "liked",
        "new",
        "job",
        "pilot",
        "happy",
        "early",
    ]

    def sentence(k: int) -> list[str]:
        return [rng.choice(words) for _ in range(k)]

    copa, crows = [], []
    for _ in range(n):
        premise = " ".join(sentence(rng.randint(6, 12)))
        copa.append([(premise + " because", " " + " ".join(sentence(rng.randint(4, 8)))) for _ in range(2)])
        base = sentence(rng.randint(10, 20))
        swapped = list(base)
        swapped[rng.randrange(len(base))] = rng.choice(words)
        crows.append([("", " ".join(base)), ("", " ".join(swapped))])
    return {**sets, "copa_style": copa, "crows_pairs_style": crows}


def _peak_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_scorer(which: str, ref: str, groups: list, batch_sizes: list[int], device: str, out: str) -> None:
    """In a fresh process: load the model, score every batch size once after a warm-up, save results."""
    import torch

    from causal_llm.models.loading import load_model, load_tokenizer

    torch.set_num_threads(os.cpu_count() or 1)
    model, tokenizer = load_model(ref).to(device).eval(), load_tokenizer(ref)
    flat = [r for g in groups for r in g]
    base_mb = _peak_mb(device)
    timings, values = {}, None
    if which == "ours":
        from causal_llm.scoring import score_groups

        score_groups(model, tokenizer, groups[:8], batch_sizes[0])  # warm-up
        for bs in batch_sizes:
            start = time.perf_counter()
            res = score_groups(model, tokenizer, groups, bs)
            timings[bs] = time.perf_counter() - start
            values = [s.loglikelihood for g in res for s in g]
    else:
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM

        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_sizes[0], device=device)
        requests = [Instance("loglikelihood", {}, (c, x), i) for i, (c, x) in enumerate(flat)]
        lm.loglikelihood(requests[:16], disable_tqdm=True)  # warm-up
        for bs in batch_sizes:
            lm.batch_size_per_gpu = bs
            start = time.perf_counter()
            res = lm.loglikelihood(requests, disable_tqdm=True)
            timings[bs] = time.perf_counter() - start
            values = [ll for ll, _ in res]
    Path(out).write_text(
        json.dumps({"timings": timings, "values": values, "peak_mb": _peak_mb(device), "base_mb": base_mb})
    )


def measure(which: str, ref: str, groups: list, batch_sizes: list[int], device: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
        proc = mp.get_context("spawn").Process(
            target=run_scorer, args=(which, ref, groups, batch_sizes, device, tmp.name)
        )
        proc.start()
        proc.join()
        if proc.exitcode:
            raise RuntimeError(f"{which} scorer failed with exit code {proc.exitcode}")
        return json.loads(Path(tmp.name).read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["tiny", "smollm2"])
    parser.add_argument("--items", type=int, default=200, help="items per item set")
    parser.add_argument("--ours-batch-sizes", type=int, nargs="+", default=[32])
    parser.add_argument("--lm-eval-batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--output", default="bench/results/scorer_throughput.json")
    parser.add_argument("--sets", nargs="+", default=None, help="item sets to run (default: all)")
    args = parser.parse_args()
    import torch

    from causal_llm.models.pretrained import smollm2_folder

    device = "cuda" if torch.cuda.is_available() else "cpu"
    report: dict = {"device": device, "cpus": os.cpu_count(), "torch": torch.__version__, "results": []}
    with tempfile.TemporaryDirectory() as tmp:
        sets = item_sets(args.items, Path(tmp) / "benchmarks")
        print(
            f"device {device}, {os.cpu_count()} CPUs; items per set: "
            + ", ".join(f"{k} {len(v)}" for k, v in sets.items())
        )
        refs = {"tiny": lambda: tiny_model(Path(tmp) / "tiny"), "smollm2": lambda: str(smollm2_folder())}
        sets = {k: v for k, v in sets.items() if args.sets is None or k in args.sets}
        for name in args.models:
            ref = refs[name]() if name in refs else name
            for set_name, groups in sets.items():
                n_requests = sum(len(g) for g in groups)
                ours = measure("ours", ref, groups, args.ours_batch_sizes, device)
                theirs = measure("lm_eval", ref, groups, args.lm_eval_batch_sizes, device)
                best_bs = min(theirs["timings"], key=theirs["timings"].get)
                our_bs = min(ours["timings"], key=ours["timings"].get)
                diff = float(np.abs(np.array(ours["values"]) - np.array(theirs["values"])).max())
                row = {
                    "model": name,
                    "items": set_name,
                    "requests": n_requests,
                    "ours_req_s": n_requests / ours["timings"][our_bs],
                    "ours_batch_size": int(our_bs),
                    "lm_eval_req_s": n_requests / theirs["timings"][best_bs],
                    "lm_eval_best_batch_size": int(best_bs),
                    "lm_eval_req_s_by_batch_size": {bs: n_requests / t for bs, t in theirs["timings"].items()},
                    "max_abs_ll_diff": diff,
                    "ours_peak_mb": ours["peak_mb"],
                    "lm_eval_peak_mb": theirs["peak_mb"],
                }
                row["speedup"] = row["ours_req_s"] / row["lm_eval_req_s"]
                report["results"].append(row)
                print(
                    f"{name:8s} {set_name:18s} ours {row['ours_req_s']:8.1f} req/s  lm-eval {row['lm_eval_req_s']:8.1f}"
                    f" req/s (bs {best_bs})  x{row['speedup']:.2f}  max|dLL| {diff:.1e}  "
                    f"peak MB ours {row['ours_peak_mb']:.0f} lm-eval {row['lm_eval_peak_mb']:.0f}",
                    flush=True,
                )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
