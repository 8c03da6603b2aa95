"""Tests for research/sharding/axes.py: the vocabulary and the rules agree with each other, and
rules a config adds are parsed, checked and put first."""

import pytest

from research.sharding.axes import (
    LOGICAL_AXES,
    MESH_AXES,
    RULES,
    parse_rules,
    with_additional_rules,
)


def _mesh_axes(target) -> tuple:
    if target is None:
        return ()
    return (target,) if isinstance(target, str) else tuple(target)


def test_every_rule_maps_a_known_name_to_known_mesh_axes():
    for name, target in RULES:
        assert name in LOGICAL_AXES, name
        assert set(_mesh_axes(target)) <= set(MESH_AXES), (name, target)


def test_every_name_has_exactly_one_rule():
    names = [name for name, _ in RULES]
    assert sorted(names) == sorted(LOGICAL_AXES)
    assert len(names) == len(set(names))


def test_the_documented_layout():
    assert MESH_AXES == ("data", "fsdp", "tensor")
    rules = dict(RULES)
    assert rules["batch"] == ("data", "fsdp")  # data parallel over both batch axes
    assert rules["embed"] == "fsdp"  # weights split over fsdp on their model-width side
    assert {rules[n] for n in ("vocab", "mlp", "heads", "hidden")} == {"tensor"}
    assert all(rules[n] is None for n in ("length", "kv", "layers", "latent", "lora_rank"))
    # batch comes first, so an activation [batch, embed] keeps embed whole (fsdp already taken).
    assert RULES[0][0] == "batch"
    assert [n for n, _ in RULES].index("embed") > [n for n, _ in RULES].index("batch")


@pytest.mark.parametrize(
    "text, rules",
    [
        ("", ()),
        ("  ", ()),
        ("length=tensor", (("length", "tensor"),)),
        ("embed=fsdp+data", (("embed", ("fsdp", "data")),)),
        ("kv=none, vocab=None", (("kv", None), ("vocab", None))),
        (" length = tensor , mlp=fsdp ,", (("length", "tensor"), ("mlp", "fsdp"))),
    ],
)
def test_parse_rules(text, rules):
    assert parse_rules(text) == rules


@pytest.mark.parametrize("text", ["length", "length=", "=tensor", "embed=fsdp+", "a=b=c+"])
def test_parse_rules_refuses_malformed_items_in_one_sentence(text):
    with pytest.raises(ValueError, match=r"^The sharding rule '.*' is not of the form logical="):
        parse_rules(text)


def test_additional_rules_come_first_so_they_win():
    extra = (("length", "tensor"), ("embed", ["fsdp", "data"]))
    rules = with_additional_rules(extra)
    assert rules == (("length", "tensor"), ("embed", ("fsdp", "data"))) + RULES
    assert with_additional_rules(()) == RULES


@pytest.mark.parametrize(
    "rule, message",
    [
        (("lenght", "tensor"), r"unknown logical axis 'lenght'; use one of batch, length, embed"),
        (("length", "model"), r"unknown mesh axis 'model'; use data, fsdp, tensor or None"),
        (("embed", ("fsdp", "modle")), r"unknown mesh axis 'modle'"),
        (("embed", ("fsdp", "fsdp")), r"names a mesh axis twice"),
        (("embed", 3), r"maps to 3; map a logical axis to a mesh axis name"),
        (("embed",), r"is not a \(logical_name, mesh_axes\) pair"),
        ("embed=fsdp", r"is not a \(logical_name, mesh_axes\) pair"),
    ],
)
def test_bad_additional_rules_are_refused_in_one_sentence(rule, message):
    with pytest.raises(ValueError, match=r"^The sharding rule .*" + message) as info:
        with_additional_rules([rule])
    assert str(info.value).count(". ") == 0 and str(info.value).endswith(".")
