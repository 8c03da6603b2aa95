"""Tests for research/sharding/axes.py: the vocabulary and the rules agree with each other."""

from research.sharding.axes import LOGICAL_AXES, MESH_AXES, RULES


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
