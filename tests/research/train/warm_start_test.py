"""Tests for research/train/warm_start.py: pre-trained values replace fresh ones where selected, keep
their logical axes and shards, and a mismatched checkpoint is one sentence."""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.train import loop
from research.train.warm_start import from_pretrained
from tests.research.train.toy_task import toy_config, toy_task


def _boxed(value, names):
    return nn.LogicallyPartitioned(jnp.asarray(value), names)


def _fresh():
    return {
        "encoder": {"kernel": _boxed(np.zeros((2, 3), np.float32), ("embed", "mlp"))},
        "head": {"kernel": _boxed(np.zeros((3, 4), np.float32), ("mlp", "vocab"))},
    }


def test_selected_values_are_replaced_and_keep_their_boxes_and_dtype():
    pretrained = {
        "encoder": {"kernel": np.arange(6, dtype=np.float64).reshape(2, 3)},
        "head": {"kernel": np.ones((3, 4))},
    }
    out = from_pretrained(pretrained, select=lambda name: name == "encoder")(_fresh())
    kernel = out["encoder"]["kernel"]
    assert isinstance(kernel, nn.LogicallyPartitioned) and kernel.names == ("embed", "mlp")
    assert kernel.value.dtype == jnp.float32  # the model's dtype, not the checkpoint's
    np.testing.assert_array_equal(kernel.value, np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(out["head"]["kernel"].value, np.zeros((3, 4)))  # not selected
    everything = from_pretrained(pretrained)(_fresh())
    np.testing.assert_array_equal(everything["head"]["kernel"].value, np.ones((3, 4)))


@pytest.mark.parametrize(
    "pretrained, message",
    [
        ({"encoder": {"kernel": np.zeros((3, 3))}},
         r"pre-trained encoder\['kernel'\] has shape \(3, 3\), the model expects \(2, 3\)"),
        ({"encoder": {"weight": np.zeros((2, 3))}},
         r"pre-trained weights lack encoder\['kernel'\], which the model has with shape \(2, 3\)"),
        ({"encoder": {"kernel": np.zeros((2, 3)), "bias": np.zeros(3)}},
         r"pre-trained encoder has encoder\['bias'\], which the model lacks"),
        ({"decoder": {}}, r"pre-trained weights have no 'encoder' \(they have \['decoder'\]\)"),
    ],
)  # fmt: skip
def test_a_checkpoint_of_another_architecture_is_one_sentence(pretrained, message):
    with pytest.raises(ValueError, match=message):
        from_pretrained(pretrained, select=lambda name: name == "encoder")(_fresh())


def test_the_loop_starts_from_the_pretrained_layer_on_its_shards(tmp_path):
    # 8 devices, parameters sharded over fsdp. The one step is the first of warmup, at learning
    # rate 0, so the final params are the init.
    config = toy_config(num_train_steps=1, checkpoint_every_steps=1, eval_every_steps=1)
    config.mesh.data, config.mesh.fsdp = 4, 2
    config.optimizer.warmup_steps = 1
    rng = np.random.default_rng(0)
    fresh = loop.train(config, tmp_path / "fresh", toy_task(config)).state.params
    pretrained = jax.tree.map(lambda a: rng.normal(size=a.shape).astype(np.float32), fresh)
    task = dataclasses.replace(
        toy_task(config), warm_start=from_pretrained(pretrained, select=lambda n: n == "wi")
    )
    warm = loop.train(config, tmp_path / "warm", task).state.params
    for name in ("kernel", "bias"):
        np.testing.assert_array_equal(warm["wi"][name], pretrained["wi"][name])
        np.testing.assert_array_equal(warm["wo"][name], fresh["wo"][name])  # fresh init kept
        assert warm["wi"][name].sharding == fresh["wi"][name].sharding
    assert not np.array_equal(fresh["wi"]["kernel"], pretrained["wi"]["kernel"])
