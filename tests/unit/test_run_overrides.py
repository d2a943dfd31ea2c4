"""Run overrides (`causal-llm run --set`, the Prefect form): parsing, precedence, validation, params.yaml."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from causal_llm.config import OVERRIDES_SKELETON, ParamsError, load_params, params_from_dict
from causal_llm.pipeline import activate_params, parse_overrides, run_overrides

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def test_parse_overrides_reads_values_as_yaml():
    parsed = parse_overrides(
        ["finetune.base_model=org/model", "seed=3", "infer.strategies=[direct]", "data.n_stories=80"]
    )
    assert parsed == {
        "finetune": {"base_model": "org/model"},
        "seed": 3,
        "infer": {"strategies": ["direct"]},
        "data": {"n_stories": 80},
    }
    with pytest.raises(ParamsError, match="expected KEY=VALUE"):
        parse_overrides(["seed"])


def test_form_fields_become_overrides_and_empty_fields_keep_params():
    assert run_overrides() == {}
    chosen = run_overrides("org/m", None, ["direct"], None, 7, {"pretrain": {"num_workers": 2}, "seed": 1})
    assert chosen == {
        "finetune": {"base_model": "org/m"},
        "infer": {"strategies": ["direct"]},
        "seed": 7,  # the form's field wins over the free-form overrides
        "pretrain": {"num_workers": 2},
    }


def test_overrides_apply_after_the_profile():
    raw = yaml.safe_load(REPO_PARAMS.read_text())
    raw["overrides"] = {"finetune": {"epochs": 3}, "seed": 5}
    params = params_from_dict(raw, "params.yaml", "smoke")
    assert params.finetune.epochs == 3  # the smoke profile says 2
    assert params.finetune.base_model == "pretrain:baseline"  # still the profile's
    assert params.seed == 5


def test_bad_overrides_name_the_field():
    raw = yaml.safe_load(REPO_PARAMS.read_text())
    raw["overrides"] = {"finetune": {"epoch": 3}}
    with pytest.raises(ParamsError, match=r"params.yaml.overrides.finetune.epoch: unknown key. Did you mean 'epochs'"):
        params_from_dict(raw, "params.yaml")
    raw["overrides"] = {"pretrain": {"num_workers": "two"}}
    with pytest.raises(ParamsError, match=r"overrides.pretrain.num_workers: expected int"):
        params_from_dict(raw, "params.yaml")


def test_activate_params_records_profile_and_overrides_and_keeps_comments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(REPO_PARAMS.read_text())
    params = activate_params("params.yaml", "smoke", {"seed": 3, "pretrain": {"num_workers": 2}})
    assert (params.profile, params.seed, params.pretrain.num_workers) == ("smoke", 3, 2)
    text = (tmp_path / "params.yaml").read_text()
    assert "# causal-llm experiment definition" in text and "profile: smoke" in text
    recorded = yaml.safe_load(text)["overrides"]
    assert recorded == {**OVERRIDES_SKELETON, "seed": 3, "pretrain": {"num_workers": 2}}  # every key, for DVC
    assert load_params("params.yaml").pretrain.num_workers == 2  # what DVC's stages will read
    activate_params("params.yaml", "smoke")  # the next run states its own overrides: none
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["overrides"] == OVERRIDES_SKELETON
    assert (tmp_path / "params.yaml").read_text() == REPO_PARAMS.read_text().replace(
        "profile: default", "profile: smoke"
    )
    assert len(os.listdir(tmp_path / ".causal_llm/params-history")) >= 1  # the replaced file is kept


def test_invalid_override_leaves_params_yaml_untouched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(REPO_PARAMS.read_text())
    with pytest.raises(ParamsError, match="overrides.align.beta"):
        activate_params("params.yaml", "smoke", {"align": {"beta": "high"}})
    assert (tmp_path / "params.yaml").read_text() == REPO_PARAMS.read_text()


def test_a_block_the_rewrite_cannot_replace_is_refused_not_broken(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = REPO_PARAMS.read_text().replace(
        "overrides: {seed: null", "overrides:\n  finetune: {epochs: 2}\n\n  seed: 3\nignored: {seed: null"
    )
    text = text.replace("ignored: ", "# was: ")
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ParamsError, match="could not rewrite"):
        activate_params("params.yaml", "smoke", {"seed": 4})
    assert (tmp_path / "params.yaml").read_text() == text


def test_unknown_override_section():
    with pytest.raises(ParamsError, match="unknown section"):
        activate_params(REPO_PARAMS, "smoke", {"pretrian": {"epochs": 1}})


def test_the_committed_params_yaml_records_the_whole_skeleton():
    assert yaml.safe_load(REPO_PARAMS.read_text())["overrides"] == OVERRIDES_SKELETON
