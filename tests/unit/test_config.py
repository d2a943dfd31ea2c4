"""params.yaml loading: unknown keys, wrong types, profiles and validation, with the field's path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from causal_llm.config import (
    DataConfig,
    ParamsError,
    PretrainConfig,
    load_params,
    params_from_dict,
)

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def write(tmp_path: Path, raw: dict | str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw))
    return path


def load_error(tmp_path: Path, raw: dict | str, profile: str | None = None) -> str:
    path = write(tmp_path, raw)
    with pytest.raises(ParamsError) as info:
        load_params(path, profile)
    return str(info.value)


# --- values that load --------------------------------------------------------------------------


def test_values_from_the_file_reach_the_configs(tmp_path):
    path = write(
        tmp_path,
        {
            "seed": 7,
            "data": {"n_stories": 123, "spurious_strength": 0.75},
            "pretrain": {"n_layer": 3, "lr": 1},  # an int where a float is expected is fine (YAML)
            "infer": {"strategies": ["direct"]},
        },
    )
    params = load_params(path)
    assert params.seed == 7
    assert params.profile == "default"
    assert params.source == str(path)
    assert params.data.n_stories == 123
    assert params.data.spurious_strength == 0.75
    assert params.data.heldout_fraction == DataConfig().heldout_fraction  # untouched default
    assert params.pretrain.n_layer == 3
    assert params.pretrain.lr == 1
    assert params.infer.strategies == ["direct"]
    assert params.to_dict()["data"]["n_stories"] == 123


def test_empty_file_gives_the_defaults(tmp_path):
    params = load_params(write(tmp_path, ""))
    assert params.data == DataConfig()
    assert params.pretrain == PretrainConfig()
    assert params.seed == 0


# --- unknown keys and wrong types --------------------------------------------------------------


def test_unknown_key_names_the_path_and_the_closest_key(tmp_path):
    msg = load_error(tmp_path, {"data": {"n_storie": 60}})
    assert "data.n_storie" in msg
    assert "Did you mean 'n_stories'" in msg


def test_unknown_key_without_a_close_match_lists_the_valid_keys(tmp_path):
    msg = load_error(tmp_path, {"pretrain": {"zzzzzz": 1}})
    assert "pretrain.zzzzzz" in msg
    assert "Did you mean" not in msg
    assert "vocab_size" in msg and "n_layer" in msg


def test_string_for_an_int_names_the_field_and_the_type(tmp_path):
    msg = load_error(tmp_path, {"pretrain": {"epochs": "three"}})
    assert "pretrain.epochs" in msg
    assert "expected int" in msg
    assert "str" in msg and "'three'" in msg


def test_bool_for_an_int_is_rejected(tmp_path):
    msg = load_error(tmp_path, {"pretrain": {"n_layer": True}})
    assert "pretrain.n_layer" in msg
    assert "expected int" in msg
    assert "bool" in msg


def test_bool_for_a_float_is_rejected(tmp_path):
    msg = load_error(tmp_path, {"finetune": {"lr": False}})
    assert "finetune.lr" in msg
    assert "expected float" in msg


def test_float_for_an_int_is_rejected(tmp_path):
    msg = load_error(tmp_path, {"evaluate": {"n_bootstrap": 100.5}})
    assert "evaluate.n_bootstrap" in msg
    assert "expected int" in msg


def test_optional_and_list_types(tmp_path):
    msg = load_error(tmp_path, {"data": {"corpus_file": 3}})
    assert "data.corpus_file" in msg and "str" in msg and "None" in msg
    msg = load_error(tmp_path, {"infer": {"strategies": ["direct", 2]}})
    assert "infer.strategies" in msg and "expected list" in msg
    msg = load_error(tmp_path, {"infer": {"strategies": "direct"}})
    assert "infer.strategies" in msg and "got str" in msg
    # None is a valid optional value
    assert load_params(write(tmp_path, {"data": {"corpus_file": None}})).data.corpus_file is None
    assert load_params(write(tmp_path, {"data": {"corpus_file": "x.jsonl"}})).data.corpus_file == "x.jsonl"


def test_section_that_is_not_a_mapping(tmp_path):
    msg = load_error(tmp_path, {"data": [1, 2]})
    assert "data" in msg and "mapping" in msg


def test_unknown_top_level_key_with_hint(tmp_path):
    msg = load_error(tmp_path, {"pretrian": {"epochs": 1}})
    assert "unknown top-level key 'pretrian'" in msg
    assert "Did you mean 'pretrain'" in msg


def test_seed_must_be_an_int(tmp_path):
    msg = load_error(tmp_path, {"seed": "zero"})
    assert "seed" in msg and "expected int" in msg


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    msg = load_error(tmp_path, "data: {n_stories: [1, 2\n")
    assert "not valid YAML" in msg
    msg = load_error(tmp_path, "- a\n- b\n")
    assert "top level must be a mapping" in msg


# --- profiles ----------------------------------------------------------------------------------

BASE = {
    "profile": "default",
    "data": {"n_stories": 100, "spurious_strength": 0.8},
    "pretrain": {"n_layer": 2, "epochs": 4},
    "profiles": {"smoke": {"data": {"n_stories": 60}, "pretrain": {"epochs": 1}, "seed": 3}},
}


def test_profile_overrides_are_applied_on_top_of_the_sections(tmp_path):
    path = write(tmp_path, BASE)
    default = load_params(path)
    assert default.profile == "default"
    assert default.data.n_stories == 100
    assert default.pretrain.epochs == 4
    assert default.seed == 0

    smoke = load_params(path, "smoke")
    assert smoke.profile == "smoke"
    assert smoke.data.n_stories == 60
    assert smoke.pretrain.epochs == 1
    assert smoke.seed == 3
    # a deep merge: keys the profile does not name keep the section's value
    assert smoke.data.spurious_strength == 0.8
    assert smoke.pretrain.n_layer == 2


def test_active_profile_from_the_file(tmp_path):
    params = load_params(write(tmp_path, {**BASE, "profile": "smoke"}))
    assert params.profile == "smoke"
    assert params.data.n_stories == 60
    # the argument wins over the file
    assert load_params(write(tmp_path, {**BASE, "profile": "smoke"}), "default").data.n_stories == 100


def test_unknown_profile_with_hint(tmp_path):
    msg = load_error(tmp_path, BASE, profile="smok")
    assert "unknown profile 'smok'" in msg
    assert "Did you mean 'smoke'" in msg
    msg = load_error(tmp_path, {**BASE, "profile": "smoek"})
    assert "unknown profile 'smoek'" in msg and "smoke" in msg


def test_error_inside_a_profile_names_the_profile_path(tmp_path):
    raw = {**BASE, "profiles": {"smoke": {"data": {"n_storie": 60}}}}
    msg = load_error(tmp_path, raw, profile="smoke")
    assert "profiles.smoke.data.n_storie" in msg
    assert "Did you mean 'n_stories'" in msg

    raw = {**BASE, "profiles": {"smoke": {"pretrain": {"epochs": "one"}}}}
    msg = load_error(tmp_path, raw, profile="smoke")
    assert "profiles.smoke.pretrain.epochs" in msg and "expected int" in msg


def test_unknown_section_inside_a_profile(tmp_path):
    raw = {**BASE, "profiles": {"smoke": {"dat": {"n_stories": 60}}}}
    msg = load_error(tmp_path, raw, profile="smoke")
    assert "profiles.smoke.dat" in msg
    assert "Did you mean 'data'" in msg


# --- __post_init__ validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "section", "field"),
    [
        ({"data": {"spurious_strength": 1.5}}, "data", "spurious_strength"),
        ({"data": {"n_stories": 10}}, "data", "n_stories"),
        ({"pretrain": {"n_embd": 30, "n_head": 4}}, "pretrain", "n_embd"),
        ({"pretrain": {"vocab_size": 100}}, "pretrain", "vocab_size"),
        ({"align": {"beta": 0}}, "align", "beta"),
        ({"evaluate": {"confidence": 1.0}}, "evaluate", "confidence"),
        ({"infer": {"strategies": []}}, "infer", "strategies"),
    ],
)
def test_post_init_validation_names_the_section(tmp_path, raw, section, field):
    msg = load_error(tmp_path, raw)
    assert f"{section}." in msg
    assert field in msg


def test_post_init_validation_applies_after_the_profile_merge(tmp_path):
    raw = {**BASE, "profiles": {"smoke": {"data": {"spurious_strength": 1.5}}}}
    assert load_params(write(tmp_path, raw)).data.spurious_strength == 0.8  # inactive: fine
    msg = load_error(tmp_path, raw, profile="smoke")
    assert "data.spurious_strength" in msg


def test_configs_are_frozen():
    cfg = DataConfig()
    with pytest.raises(AttributeError):
        cfg.n_stories = 1  # type: ignore[misc]


# --- the repository's own params.yaml ----------------------------------------------------------


def test_repo_params_load_for_default_and_smoke():
    raw = yaml.safe_load(REPO_PARAMS.read_text())
    default = load_params(REPO_PARAMS, "default")
    smoke = load_params(REPO_PARAMS, "smoke")
    assert default.profile == "default" and smoke.profile == "smoke"
    # default: every value written in a section is the loaded value
    default_dict = default.to_dict()
    for section, values in raw.items():
        if section in ("profile", "profiles", "seed", "overrides"):
            continue
        for key, value in values.items():
            assert default_dict[section][key] == value, f"{section}.{key}"
    # smoke: the profile's overrides win, everything else comes from the sections
    overrides = raw["profiles"]["smoke"]
    assert overrides, "the smoke profile overrides something"
    smoke_dict = smoke.to_dict()
    for section, values in overrides.items():
        if section == "seed":
            continue
        for key, value in values.items():
            assert smoke_dict[section][key] == value, f"profiles.smoke.{section}.{key}"
    differing = [
        (s, k) for s in overrides if s != "seed" for k in overrides[s] if default_dict[s][k] != smoke_dict[s][k]
    ]
    assert differing, "the smoke profile changes at least one value"


def test_params_from_dict_matches_load_params(tmp_path):
    path = write(tmp_path, BASE)
    assert params_from_dict(dict(BASE), str(path), "smoke") == load_params(path, "smoke")


def test_profile_that_is_not_a_mapping_is_a_params_error(tmp_path):
    raw = {**BASE, "profiles": {"smoke": ["data"]}}
    msg = load_error(tmp_path, raw, profile="smoke")
    assert "profiles.smoke" in msg


def test_list_item_type_error_names_the_item_type(tmp_path):
    msg = load_error(tmp_path, {"infer": {"strategies": ["direct", 2]}})
    assert "list[str]" in msg
