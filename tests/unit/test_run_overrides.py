"""Run overrides (`causal-llm run --set`, the Prefect form): parsing, precedence, validation, params.yaml."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from causal_llm.config import ParamsError
from causal_llm.ops.params_file import activate_params, parse_overrides, run_overrides
from causal_llm.params import load_params, params_from_dict

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def repo_params(profile: str = "default"):
    return load_params(REPO_PARAMS, profile)


def test_parse_overrides_reads_values_as_yaml():
    parsed = parse_overrides(["finetune.defaults.from=org/model", "seed=3", "evaluate.benchmarks=[cladder_gen]"])
    assert parsed == {
        "finetune": {"defaults": {"from": "org/model"}},
        "seed": 3,
        "evaluate": {"benchmarks": ["cladder_gen"]},
    }
    with pytest.raises(ParamsError, match="expected KEY=VALUE"):
        parse_overrides(["seed"])


def test_form_fields_become_overrides_and_empty_fields_keep_params():
    params = repo_params()
    assert run_overrides(params) == {}
    chosen = run_overrides(
        params, "org/m", "cds", ["direct"], None, 7, {"pretrain": {"ray": {"num_workers": 2}}, "seed": 1}
    )
    assert chosen == {
        "finetune": {"defaults": {"from": "org/m"}},
        # a variant named by the augmenter, and one pre-trained on it: names say what they are
        "data": {"variants": {"cds": {"method": "cds", "baseline": "original"}}},
        "infer": {"variants": {"causal_graph": None}},  # one inference variant per chosen strategy
        "seed": 7,  # the form's field wins over the free-form overrides
        "pretrain": {
            "ray": {"num_workers": 2},
            "variants": {"cds": {"method": "scratch", "from": "data/cds", "baseline": "baseline_matched"}},
        },
    }
    raw = yaml.safe_load(REPO_PARAMS.read_text())
    applied = params_from_dict({**raw, "overrides": chosen}, "params.yaml")
    assert applied.variant("data/cda").method == "cda_two_sided"  # unchanged
    assert applied.variant("data/cds").method == "cds" and applied.variant("pretrain/cds").starts_from == ("data/cds",)
    assert [v.name for v in applied.variants("infer")] == ["direct"]
    assert applied.variant("finetune/sft").starts_from == ("org/m",)


def test_overrides_apply_after_the_profile():
    raw = yaml.safe_load(REPO_PARAMS.read_text())
    raw["overrides"] = {"finetune": {"defaults": {"training": {"epochs": 3}}}, "seed": 5}
    params = params_from_dict(raw, "params.yaml", "smoke")
    sft = params.variant("finetune/sft")
    assert sft.config.training.epochs == 3  # the smoke profile says 2
    assert sft.starts_from == ("pretrain/baseline",)  # still the profile's
    assert params.seed == 5


def test_activate_params_records_profile_and_overrides_and_keeps_comments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(REPO_PARAMS.read_text())
    params = activate_params("params.yaml", "smoke", {"seed": 3, "pretrain": {"ray": {"num_workers": 2}}})
    assert (params.profile, params.seed) == ("smoke", 3)
    assert params.stages["pretrain"].settings.ray.num_workers == 2
    text = (tmp_path / "params.yaml").read_text()
    assert "# causal-llm experiment definition" in text and "profile: smoke" in text
    assert yaml.safe_load(text)["overrides"] == {"seed": 3, "pretrain": {"ray": {"num_workers": 2}}}
    assert "causal-llm stage pretrain/baseline" in (tmp_path / "dvc.yaml").read_text()  # its nodes' stages
    activate_params("params.yaml", "smoke")  # the next run states its own overrides: none
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["overrides"] == {}
    assert (tmp_path / "params.yaml").read_text() == REPO_PARAMS.read_text().replace(
        "profile: default", "profile: smoke"
    )
    assert len(os.listdir(tmp_path / ".causal_llm/params-history")) >= 1  # the replaced file is kept


def test_an_invalid_override_leaves_params_and_dvc_yaml_untouched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(REPO_PARAMS.read_text())
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    with pytest.raises(ParamsError, match="overrides.align.variants.dpo.beta: expected float"):
        activate_params("params.yaml", "smoke", {"align": {"variants": {"dpo": {"beta": "high"}}}})
    assert (tmp_path / "params.yaml").read_text() == REPO_PARAMS.read_text()
    assert (tmp_path / "dvc.yaml").read_text() == "stages: {}\n"


def test_a_block_the_rewrite_cannot_replace_is_refused_not_broken(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = REPO_PARAMS.read_text().replace("overrides: {}", "overrides:\n  seed: 2\n\n  data: {}\nignored: {}")
    text = text.replace("ignored: ", "# was: ")
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ParamsError, match="could not rewrite"):
        activate_params("params.yaml", "smoke", {"seed": 4})
    assert (tmp_path / "params.yaml").read_text() == text


def test_an_unknown_override_section():
    with pytest.raises(ParamsError, match="overrides.pretrian: unknown section. Did you mean 'pretrain'"):
        activate_params(REPO_PARAMS, "smoke", {"pretrian": {"epochs": 1}})


def test_the_committed_params_yaml_has_no_overrides_and_the_default_profile():
    raw = yaml.safe_load(REPO_PARAMS.read_text())
    assert raw["overrides"] == {} and raw["profile"] == "default"
