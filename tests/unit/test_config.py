"""params.yaml: variants validated recursively against their method's config, with dotted paths."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from causal_llm.config import ParamsError, build_config, deep_merge
from causal_llm.finetune.sft import SftConfig
from causal_llm.params import load_params, params_from_dict
from causal_llm.pretrain.scratch import ScratchConfig
from causal_llm.training.config import RayScalingConfig

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
BASE = yaml.safe_load(REPO_PARAMS.read_text())


def raw(**changes) -> dict:
    """The repository's params with ``changes`` deep-merged on top (``None`` deletes a mapping key)."""
    return deep_merge(copy.deepcopy(BASE), changes)


def error(mapping: dict, profile: str | None = None) -> str:
    with pytest.raises(ParamsError) as info:
        params_from_dict(mapping, "params.yaml", profile)
    return str(info.value)


# --- what loads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["default", "smoke"])
def test_the_repository_params_load_under_every_profile(profile):
    params = load_params(REPO_PARAMS, profile)
    assert params.profile == profile
    assert {v.id for v in params.variants()} >= {"data/original", "data/cda", "pretrain/baseline", "finetune/sft"}
    for v in params.variants():
        assert v.method_spec().config is type(v.config)  # every variant's config is its method's dataclass


def test_defaults_reach_every_variant_and_a_variant_overrides_them():
    params = params_from_dict(raw(pretrain={"variants": {"cda": {"training": {"lr": 0.5}}}}), "params.yaml")
    base, cda = params.variant("pretrain/baseline").config, params.variant("pretrain/cda").config
    assert isinstance(base, ScratchConfig)
    assert base.training.lr == BASE["pretrain"]["defaults"]["training"]["lr"]
    assert cda.training.lr == 0.5 and cda.training.epochs == base.training.epochs  # only lr differs
    assert base.model.n_layer == BASE["pretrain"]["defaults"]["model"]["n_layer"]
    assert params.variant("pretrain/cda").starts_from == ("data/cda",)
    assert params.variant("pretrain/cda").baseline == "baseline_matched"


def test_a_profile_and_overrides_apply_in_order():
    mapping = raw(
        overrides={"pretrain": {"defaults": {"training": {"epochs": 9}}}, "seed": 3},
        profile="smoke",
    )
    params = params_from_dict(mapping, "params.yaml")
    sft = params.variant("finetune/sft")
    assert sft.starts_from == ("pretrain/baseline",)  # the smoke profile
    assert params.variant("pretrain/baseline").config.training.epochs == 9  # overrides beat the profile
    assert params.variant("pretrain/baseline").config.model.n_embd == 64  # the profile
    assert params.seed == 3
    assert isinstance(sft.config, SftConfig) and sft.config.training.epochs == 2


def test_null_removes_a_variant_and_a_profile_can_add_one():
    mapping = raw(profiles={"lean": {"infer": {"variants": {"causal_graph": None}}, "data": {"variants": {
        "cds": {"method": "cds", "probability": 0.25}}}}})  # fmt: skip
    params = params_from_dict(mapping, "params.yaml", "lean")
    assert [v.name for v in params.variants("infer")] == ["direct"]
    assert params.variant("data/cds").config.probability == 0.25


def test_nested_configs_are_frozen_dataclasses_with_the_file_types():
    ray = build_config(RayScalingConfig, {"num_workers": 2, "placement_strategy": "PACK"}, "pretrain.ray")
    assert ray == RayScalingConfig(num_workers=2, placement_strategy="PACK")
    cfg = build_config(ScratchConfig, {"training": {"lr": 1}}, "x")  # YAML writes 1 for 1.0
    assert cfg.training.lr == 1.0 and isinstance(cfg.training.lr, float)
    with pytest.raises(AttributeError):
        cfg.training.lr = 2.0  # type: ignore[misc]


# --- errors name the dotted path, the fix, and what was meant --------------------------------------


def test_an_unknown_key_in_defaults_is_named_there_with_a_hint():
    msg = error(raw(pretrain={"defaults": {"training": {"epoch": 3}}}))
    assert msg.startswith("params.yaml.pretrain.defaults.training.epoch: unknown key.")
    assert "Did you mean 'epochs'?" in msg


def test_an_unknown_key_in_a_variant_is_named_there():
    msg = error(raw(finetune={"variants": {"cf_sft": {"lora": {"alhpa": 4}}}}))
    assert msg.startswith("params.yaml.finetune.variants.cf_sft.lora.alhpa: unknown key.")
    assert "Did you mean 'alpha'?" in msg


def test_a_wrong_type_names_the_field_and_the_type():
    msg = error(raw(pretrain={"defaults": {"training": {"epochs": "three"}}}))
    assert "pretrain.defaults.training.epochs: expected int, got str ('three')" in msg


def test_a_config_check_failure_names_the_variant():
    msg = error(raw(pretrain={"defaults": {"model": {"n_embd": 30, "n_head": 4}}}))
    assert msg.startswith("params.yaml.pretrain.defaults.model: model.n_embd must be divisible by model.n_head")
    assert "(for variant 'baseline', method 'scratch')" in msg


def test_a_literal_choice_lists_the_options_and_the_closest():
    msg = error(raw(pretrain={"ray": {"placement_strategy": "SPRED"}}))
    assert "pretrain.ray.placement_strategy: 'SPRED' is not one of" in msg and "Did you mean 'SPREAD'?" in msg


def test_an_unknown_method_names_the_registry():
    msg = error(raw(data={"variants": {"cda": {"method": "cda_two_sidd"}}}))
    assert "data.variants.cda.method: unknown data method 'cda_two_sidd'. Did you mean 'cda_two_sided'?" in msg


def test_a_variant_without_a_method_says_which_exist():
    msg = error(raw(data={"variants": {"cda": {"method": None}}}))
    assert "data.variants.cda: needs `method:`" in msg and "cda_two_sided" in msg


def test_from_must_name_an_upstream_variant():
    msg = error(raw(pretrain={"variants": {"cda": {"from": "data/cdaa"}}}))
    assert "pretrain.variants.cda.from: 'data/cdaa' is not a variant. Did you mean 'data/cda'?" in msg
    msg = error(raw(pretrain={"variants": {"cda": {"from": "finetune/sft"}}}))
    assert "pretrain variants cannot start from finetune" in msg
    msg = error(raw(pretrain={"variants": {"cda": {"from": None}}}))
    assert "pretrain.variants.cda.from: say what the variant starts from (data/<variant>)" in msg


def test_variants_that_start_from_each_other_in_a_cycle_are_refused():
    mapping = raw(
        align={"variants": {"a": {"method": "dpo", "from": "align/b"}, "b": {"method": "dpo", "from": "align/a"}}}
    )
    assert "cycle" in error(mapping)


def test_a_baseline_must_be_another_variant_of_the_stage():
    msg = error(raw(finetune={"variants": {"cf_sft": {"baseline": "sfft"}}}))
    assert "finetune.variants.cf_sft.baseline: 'sfft' is not another finetune variant. Did you mean 'sft'?" in msg


def test_a_variant_name_must_make_a_dvc_stage_name():
    msg = error(raw(data={"variants": {"my-cda": {"method": "cda_two_sided"}}}))
    assert "data.variants.my-cda: a variant name is letters, digits and '_'" in msg


def test_errors_from_a_profile_or_the_overrides_name_that_layer():
    msg = error(raw(profiles={"smoke": {"pretrain": {"defaults": {"training": {"lr": "fast"}}}}}), "smoke")
    assert msg.startswith("params.yaml.profiles.smoke.pretrain.defaults.training.lr: expected float")
    msg = error(raw(overrides={"finetune": {"defaults": {"n_example": 3}}}))
    assert msg.startswith("params.yaml.overrides.finetune.defaults.n_example: unknown key. Did you mean 'n_examples'?")


def test_every_profile_is_checked_even_when_another_is_active():
    msg = error(raw(profiles={"other": {"data": {"n_storie": 5}}}))
    assert "params.yaml.profiles.other.data.n_storie: unknown key. Did you mean 'n_stories'?" in msg


def test_unknown_sections_profiles_and_top_level_keys():
    assert "unknown top-level key 'pretrian'. Did you mean 'pretrain'?" in error({**BASE, "pretrian": {}})
    assert "profiles.smoke.finetun: unknown section. Did you mean 'finetune'?" in error(
        raw(profiles={"smoke": {"finetun": {}}})
    )
    assert "unknown profile 'smok'. Did you mean 'smoke'?" in error(BASE, "smok")


def test_a_plugin_registers_methods_and_a_missing_one_is_named(tmp_path, monkeypatch):
    from causal_llm.data import DATA_METHODS

    DATA_METHODS.discover()
    monkeypatch.setattr(DATA_METHODS, "_items", dict(DATA_METHODS._items))  # the registration ends with the test
    plugin = tmp_path / "my_methods.py"
    plugin.write_text(
        "from dataclasses import dataclass\n"
        "from causal_llm.data import DATA_METHODS\n\n"
        "@dataclass(frozen=True)\nclass UpperConfig:\n    keep: int = 0\n\n"
        "@DATA_METHODS.method('upper_test_plugin', UpperConfig)\n"
        "def upper(texts, cfg, seed):\n    return [t.upper() for t in texts]\n"
    )
    mapping = raw(plugins=[str(plugin)], data={"variants": {"up": {"method": "upper_test_plugin", "keep": 2}}})
    params = params_from_dict(mapping, "params.yaml")
    assert params.variant("data/up").config.keep == 2
    assert "plugins[0]: " in error(raw(plugins=[str(tmp_path / "gone.py")])) and "file not found" in error(
        raw(plugins=[str(tmp_path / "gone.py")])
    )


def test_a_missing_or_malformed_file_is_named(tmp_path):
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("data: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "bad.yaml")
