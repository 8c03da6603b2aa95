"""Tests for research/sharding/partition.py: logical boxes to shardings, and global batches."""

import flax.linen as nn
import jax
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from research.sharding import partition
from research.sharding.axes import RULES, parse_rules, with_additional_rules
from research.sharding.mesh import make_mesh
from research.train.state import TrainState
from tests.research.train.toy_task import DIM, HIDDEN, ToyMlp


def _init(rng):
    params = ToyMlp().init({"params": rng}, np.zeros((1, DIM), np.float32))["params"]
    return TrainState.create(params, optax.adam(0.1))


def test_state_shardings_of_the_toy_model_on_a_2x2x2_mesh():
    mesh = make_mesh(2, 2, 2)
    shardings = partition.state_shardings(jax.eval_shape(_init, jax.random.key(0)), mesh)
    want = {
        "wi": {"kernel": P("fsdp", "tensor"), "bias": P("tensor")},  # ('embed', 'mlp')
        # ('mlp', 'vocab'): the vocab rule comes first and takes tensor, so mlp stays whole.
        "wo": {"kernel": P(None, "tensor"), "bias": P("tensor")},
    }
    specs = jax.tree.map(lambda s: s.spec, shardings)
    assert specs.params == want
    adam = specs.opt_state[0]
    assert adam.mu == want and adam.nu == want  # optimizer moments follow their parameters
    assert specs.step == P() and adam.count == P()  # unboxed leaves are replicated
    assert all(s.mesh is mesh for s in jax.tree.leaves(shardings))


def test_an_added_rule_changes_the_partition_specs():
    mesh = make_mesh(2, 2, 2)
    rules = with_additional_rules(parse_rules("embed=tensor,mlp=fsdp"))
    shardings = partition.state_shardings(jax.eval_shape(_init, jax.random.key(0)), mesh, rules)
    specs = jax.tree.map(lambda s: s.spec, shardings)
    assert specs.params == {
        "wi": {"kernel": P("tensor", "fsdp"), "bias": P("fsdp")},  # default (fsdp, tensor)
        "wo": {"kernel": P("fsdp", "tensor"), "bias": P("tensor")},  # default (None, tensor)
    }
    # The batch rule is untouched, and replacing it moves the batch sharding too.
    assert partition.batch_sharding(mesh, rules).spec == P(("data", "fsdp"))
    only_data = with_additional_rules(parse_rules("batch=data"))
    assert partition.batch_sharding(mesh, only_data).spec == P("data")


def test_parameters_are_born_with_those_shards():
    mesh = make_mesh(2, 2, 2)
    with jax.set_mesh(mesh), nn.logical_axis_rules(list(RULES)):
        boxed = jax.eval_shape(_init, jax.random.key(0))
        shardings = partition.state_shardings(boxed, mesh)
        state = jax.jit(lambda r: nn.unbox(_init(r)), out_shardings=shardings)(jax.random.key(0))
    kernel = state.params["wi"]["kernel"]
    assert kernel.shape == (DIM, HIDDEN)
    assert {s.data.shape for s in kernel.addressable_shards} == {(DIM // 2, HIDDEN // 2)}
    reference = nn.unbox(_init(jax.random.key(0)))  # same values as an unsharded init
    np.testing.assert_array_equal(kernel, reference.params["wi"]["kernel"])


def test_strip_boxes_returns_plain_values_and_keeps_other_leaves():
    value = np.arange(6.0).reshape(2, 3)
    tree = {"a": nn.Partitioned(value, names=("embed", "mlp")), "b": 3, "c": np.ones(2)}
    stripped = partition.strip_boxes(tree)
    assert stripped["a"] is value and stripped["b"] == 3 and stripped["c"] is tree["c"]
    abstract = partition.strip_boxes(jax.eval_shape(_init, jax.random.key(0)))
    assert not any(
        isinstance(x, nn.Partitioned)
        for x in jax.tree.leaves(abstract, is_leaf=lambda x: isinstance(x, nn.Partitioned))
    )
    assert abstract.params["wi"]["kernel"].shape == (DIM, HIDDEN)


def test_batch_sharding_splits_rows_over_data_and_fsdp():
    mesh = make_mesh(2, 2, 2)
    sharding = partition.batch_sharding(mesh)
    assert sharding.spec == P(("data", "fsdp"))
    assert sharding.mesh is mesh


def test_global_batch_puts_each_row_block_on_its_devices():
    mesh = make_mesh(2, 2, 2)
    local = {"x": np.arange(24.0).reshape(8, 3), "label": np.arange(8, dtype=np.int32)}
    batch = partition.global_batch(local, mesh)
    np.testing.assert_array_equal(batch["x"], local["x"])  # one process: global == local
    np.testing.assert_array_equal(batch["label"], local["label"])
    position = {d.id: idx for idx, d in np.ndenumerate(mesh.devices)}
    for shard in batch["x"].addressable_shards:
        data, fsdp, _ = position[shard.device.id]
        block = 2 * data + fsdp  # rows split over ('data', 'fsdp'), replicated over tensor
        np.testing.assert_array_equal(shard.data, local["x"][2 * block : 2 * block + 2])
    assert len(batch["x"].addressable_shards) == 8
