"""The generic name -> object registry."""

from __future__ import annotations

import pytest

from causal_llm.registry import Registry


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
