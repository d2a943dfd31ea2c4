"""The generic name -> object registry."""

from __future__ import annotations

import pytest

from causal_llm.registry import NotFound, Registry, UnknownName


def make() -> Registry:
    reg: Registry = Registry("widget")

    @reg.register("alpha")
    def alpha() -> str:
        return "a"

    reg.register("beta_two")(lambda: "b")
    return reg


def test_register_returns_the_item_and_get_finds_it():
    reg: Registry = Registry("widget")

    def gamma() -> int:
        return 3

    assert reg.register("gamma")(gamma) is gamma
    assert reg.get("gamma") is gamma
    assert reg.get("gamma")() == 3


def test_names_and_contains():
    reg = make()
    assert reg.names() == ["alpha", "beta_two"]
    assert "alpha" in reg
    assert "gamma" not in reg
    assert reg.get("alpha")() == "a"
    assert reg.get("beta_two")() == "b"


def test_duplicate_registration_raises_and_keeps_the_first():
    reg = make()
    first = reg.get("alpha")
    with pytest.raises(ValueError, match="widget 'alpha' is registered twice"):
        reg.register("alpha")(lambda: "other")
    assert reg.get("alpha") is first


def test_unknown_name_raises_key_error_with_hint():
    reg = make()
    with pytest.raises(KeyError) as info:
        reg.get("alpah")
    msg = str(info.value)
    assert "unknown widget 'alpah'" in msg
    assert "Did you mean 'alpha'" in msg
    assert "alpha, beta_two" in msg
    assert isinstance(info.value, NotFound)  # bad input to the CLI; a plain KeyError in a node is a bug


def test_the_cli_reports_bad_names_but_keeps_the_traceback_of_a_bug(monkeypatch, capsys):
    from app import cli

    def failing(error):
        def run(args):
            raise error

        return run

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    args = parser.parse_args(["methods"])
    monkeypatch.setattr(parser, "parse_args", lambda argv: args)
    args.func = failing(UnknownName("unknown widget 'x'."))
    assert cli.main(["methods"]) == 2 and "unknown widget 'x'." in capsys.readouterr().err
    args.func = failing(KeyError("loss"))
    with pytest.raises(KeyError, match="loss"):
        cli.main(["methods"])


def test_unknown_name_without_close_match_has_no_hint():
    with pytest.raises(KeyError) as info:
        make().get("zzzzzzzz")
    assert "Did you mean" not in str(info.value)
    assert "Known: alpha, beta_two" in str(info.value)


def test_registries_are_independent():
    a, b = Registry("a"), Registry("b")
    a.register("x")(1)
    assert "x" in a and "x" not in b
    b.register("x")(2)  # the same name in another registry is fine
    assert a.get("x") == 1 and b.get("x") == 2


# --- method registries --------------------------------------------------------------------------


def test_a_method_registry_keeps_the_config_and_the_function():
    from dataclasses import dataclass

    from causal_llm.registry import MethodRegistry

    methods = MethodRegistry("demo")

    @dataclass(frozen=True)
    class ShoutConfig:
        times: int = 1

    @methods.method("shout", ShoutConfig)
    def shout(text: str, cfg: ShoutConfig) -> str:
        """Upper-cases the text."""
        return text.upper() * cfg.times

    method = methods.get("shout")
    assert method.config is ShoutConfig and method.run("a", ShoutConfig(2)) == "AA"
    assert method.summary == "Upper-cases the text." and method.source.name == "test_registry.py"
    with pytest.raises(ValueError, match="registered twice"):
        methods.method("shout", ShoutConfig)(lambda text, cfg: text)


def test_a_method_config_must_be_a_frozen_dataclass():
    from dataclasses import dataclass

    from causal_llm.registry import MethodRegistry

    @dataclass
    class Mutable:
        x: int = 0

    with pytest.raises(TypeError, match="frozen dataclass"):
        MethodRegistry("demo").method("m", Mutable)


def test_stage_registries_discover_every_module_of_their_package():
    from causal_llm.lifecycle import VARIANT_STAGES, stage_spec

    found = {stage: stage_spec(stage).methods.names() for stage in VARIANT_STAGES}
    assert found == {
        "data": ["cda_two_sided", "cds", "identity"],
        "pretrain": ["scratch"],
        "finetune": ["cf_sft", "sft"],
        "align": ["dpo", "dpo_cf", "sft_causal"],
        "infer": ["causal_graph", "direct"],
    }
