"""The lifecycle DAG from params: one node per (stage, variant), what each reads, and what DVC tracks."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from causal_llm.config import deep_merge
from causal_llm.dag import Lifecycle, resolved_text
from causal_llm.ops.dvc import render_dvc_yaml
from causal_llm.params import load_params, params_from_dict

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())


def lifecycle(profile: str = "default", **changes) -> Lifecycle:
    return Lifecycle(params_from_dict(deep_merge(copy.deepcopy(BASE), changes), "params.yaml", profile))


def resolved(lc: Lifecycle) -> dict[str, str]:
    return {n.id: resolved_text(n) for n in lc.nodes}


def test_one_node_per_variant_and_per_model_evaluated():
    lc = lifecycle()
    ids = [n.id for n in lc.nodes]
    assert ids[:3] == ["params", "testbed", "benchmarks"] and ids[-1] == "report"
    assert {"data/original", "data/cda", "pretrain/baseline", "finetune/cf_sft", "infer/direct"} <= set(ids)
    seeded = [f"pretrain/{v}{s}" for v in ("baseline", "baseline_matched", "cda") for s in ("", "-s1", "-s2")]
    assert [m.label for m in lc.models] == [
        "base/smollm2-135m-instruct",
        *seeded,  # pretrain.seeds: [0, 1, 2]; the first seed keeps the variant's id
        *(f"finetune/{v}{s}" for v in ("sft", "sft_matched", "cf_sft") for s in ("", "-s1", "-s2")),
        *(f"align/{v}{s}" for v in ("dpo", "dpo_cf", "sft_causal") for s in ("", "-s1", "-s2")),
    ]
    assert lc.starts_from("align/dpo_cf-s2") == ["finetune/sft-s2"]  # a replica starts from its seed's upstream
    assert [lc.by_id[f"pretrain/cda{s}"].resolved["seed"] for s in ("", "-s1", "-s2")] == [0, 1, 2]
    assert [m.label for m in lc.primary_models][:4] == ["base/smollm2-135m-instruct", *seeded[::3]]
    assert {f"evaluate/{m.label}" for m in lc.models} <= set(ids)
    assert len({n.dvc_name for n in lc.nodes}) == len(ids)  # every node is its own DVC stage


def test_each_node_waits_for_exactly_what_it_starts_from():
    lc = lifecycle("smoke")
    by = lc.by_id
    assert by["pretrain/cda"].upstream == ("params", "data/cda")
    assert set(by["finetune/sft"].upstream) == {"params", "pretrain/baseline", "testbed"}
    assert set(by["evaluate/pretrain/cda"].upstream) == {"params", "testbed", "benchmarks", "pretrain/cda"}
    assert {"pretrain/baseline", "finetune/sft", "align/dpo_cf"} <= set(by["infer/direct"].upstream)  # from: all
    assert lc.downstream("data/cda") == {
        "pretrain/cda",
        "evaluate/pretrain/cda",
        "infer/direct",
        "infer/causal_graph",
        "report",
    }
    assert (
        "corpus" not in str(by["pretrain/baseline"].deps)
        or "data/corpora/original.jsonl" in by["pretrain/baseline"].deps
    )


def test_deps_name_the_inputs_by_path_and_the_method_module():
    lc = lifecycle("smoke")
    pretrain = lc.by_id["pretrain/baseline"]
    assert "data/corpora/original.jsonl" in pretrain.deps and "causal_llm/pretrain/scratch.py" in pretrain.deps
    assert "causal_llm/training/loop.py" in pretrain.deps
    assert [o.path for o in pretrain.outs] == ["models/pretrain/baseline", "reports/pretrain/baseline/metrics.json"]
    assert "models/pretrain/baseline" in lc.by_id["finetune/cf_sft"].deps
    assert "causal_llm/finetune/cf_sft.py" in lc.by_id["finetune/cf_sft"].deps


def test_a_user_corpus_and_benchmark_files_are_dependencies_by_content(tmp_path):
    corpus = tmp_path / "extra.jsonl"
    crows = tmp_path / "crows.csv"
    lc = lifecycle(data={"corpus_file": str(corpus)}, evaluate={"benchmarks": ["cladder_gen", f"crows_pairs:{crows}"]})
    assert str(corpus) in lc.by_id["data/cda"].deps and lc.by_id["data/cda"].resolved["corpus_file"] == str(corpus)
    assert str(crows) in lc.by_id["evaluate/pretrain/baseline"].deps
    assert str(corpus) not in lc.by_id["testbed"].deps  # the testbed does not read it


def test_one_variants_hyperparameter_changes_only_that_nodes_config():
    before = resolved(lifecycle())
    after = resolved(lifecycle(align={"variants": {"dpo_cf": {"beta": 0.2}}}))
    assert {n for n in before if before[n] != after[n]} == {"align/dpo_cf", "align/dpo_cf-s1", "align/dpo_cf-s2"}
    after = resolved(lifecycle(pretrain={"defaults": {"training": {"lr": 0.001}}}))
    pretrain = {n for n in before if n.startswith("pretrain/")}
    assert len(pretrain) == 9
    assert {n for n in before if before[n] != after[n]} == pretrain
    after = resolved(lifecycle(runtime={"parallel": 1}))  # how a run executes changes no result
    assert after == before
    after = resolved(lifecycle(seed=1))
    # the training stages name their seeds; everything else scores at the top-level seed
    trained = {n for n in before if n.split("/")[0] in ("pretrain", "finetune", "align")}
    assert {n for n in before if before[n] != after[n]} == set(before) - {"params", "report"} - trained


def test_a_new_variant_is_a_new_node_and_a_dvc_stage():
    lc = lifecycle(data={"variants": {"cds": {"method": "cds", "baseline": "original"}}},
                   pretrain={"variants": {"cds": {"method": "scratch", "from": "data/cds"}}})  # fmt: skip
    assert {"data/cds", "pretrain/cds", "evaluate/pretrain/cds"} <= set(lc.by_id)
    text = render_dvc_yaml(lc)
    assert "  pretrain-cds:\n    cmd: causal-llm stage pretrain/cds" in text
    assert "build/params/pretrain-cds.json" in text


def test_the_checked_in_dvc_yaml_is_the_one_params_yaml_gives(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert (ROOT / "dvc.yaml").read_text() == render_dvc_yaml(Lifecycle(load_params(ROOT / "params.yaml")))


def test_a_node_depends_on_all_the_code_it_runs_and_no_more(monkeypatch):
    monkeypatch.chdir(ROOT)
    lc = lifecycle()
    cf_sft = set(lc.by_id["finetune/cf_sft"].deps)
    # cf_sft's own module, what it imports (sft's training, the gender swap), the loop it trains with
    assert {"causal_llm/finetune/cf_sft.py", "causal_llm/finetune/sft.py", "causal_llm/data/cda.py"} <= cf_sft
    assert {"causal_llm/training/loop.py", "causal_llm/training/jobs.py", "causal_llm/testbed.py"} <= cf_sft
    assert not any(d.startswith(("causal_llm/ops/", "app/")) for d in cf_sft)  # glue is not a result's
    assert "causal_llm/evaluate/report.py" not in cf_sft
    assert "causal_llm/align/dpo.py" in lc.by_id["align/dpo_cf"].deps
    assert "causal_llm/align/dpo.py" not in cf_sft


def test_a_dotted_name_plugin_is_code_its_nodes_depend_on(tmp_path, monkeypatch):
    """A method from ``plugins: [mypkg.methods]`` (a module, not a file path): its file is a dependency
    of its node and of the params node, so changing that code re-runs them."""
    import sys

    from causal_llm.data import DATA_METHODS

    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "methods.py").write_text(
        "from dataclasses import dataclass\n\nfrom causal_llm.data import DATA_METHODS\n\n\n"
        "@dataclass(frozen=True)\nclass KeepConfig:\n    pass\n\n\n"
        "@DATA_METHODS.method('keep_all', KeepConfig)\ndef keep_all(texts, cfg, seed):\n    return list(texts)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    DATA_METHODS.discover()
    items = dict(DATA_METHODS._items)
    try:
        lc = lifecycle(plugins=["mypkg.methods"], data={"variants": {"kept": {"method": "keep_all"}}})
        assert "mypkg/methods.py" in lc.by_id["data/kept"].deps
        assert "mypkg/methods.py" in lc.by_id["params"].deps
    finally:
        DATA_METHODS._items = items
        for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
            del sys.modules[name]
