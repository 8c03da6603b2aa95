"""Tests for research/sharding/mesh.py: mesh sizes, every refusal, and meshes on 8 devices."""

import jax
import numpy as np
import pytest
from jax.sharding import AxisType

from research.sharding.mesh import make_mesh, resolve_mesh_shape


@pytest.mark.parametrize(
    "sizes, devices, shape",
    [
        ((-1, 1, 1), 8, (8, 1, 1)),
        ((1, -1, 1), 8, (1, 8, 1)),
        ((1, 1, -1), 8, (1, 1, 8)),
        ((2, -1, 2), 8, (2, 2, 2)),
        ((-1, 2, 2), 8, (2, 2, 2)),
        ((2, 2, 2), 8, (2, 2, 2)),
        ((1, 1, 1), 1, (1, 1, 1)),
        ((-1, 1, 1), 1, (1, 1, 1)),
        ((-1, 4, 1), 4, (1, 4, 1)),
    ],
)
def test_resolve(sizes, devices, shape):
    assert resolve_mesh_shape(*sizes, devices) == shape


@pytest.mark.parametrize(
    "sizes, devices, message",
    [
        ((-1, -1, 1), 8, r"more than one -1; at most one axis"),
        ((-1, -1, -1), 8, r"more than one -1"),
        ((0, 1, 1), 8, r"'data': 0.* must be positive or -1; fix --config.mesh"),
        ((1, -2, 1), 8, r"'fsdp': -2.* must be positive or -1"),
        ((-1, 3, 1), 8, r"8 devices cannot be split into a mesh whose fixed axes multiply to 3"),
        ((2, 2, 1), 8, r"needs 4 devices but 8 are available; make the sizes multiply to 8"),
        ((4, 4, 1), 8, r"needs 16 devices but 8"),
    ],
)
def test_resolve_refuses(sizes, devices, message):
    with pytest.raises(ValueError, match=message):
        resolve_mesh_shape(*sizes, devices)


def test_default_mesh_is_data_parallel_over_all_devices():
    mesh = make_mesh()
    assert jax.device_count() == 8
    assert dict(mesh.shape) == {"data": 8, "fsdp": 1, "tensor": 1}
    assert mesh.axis_names == ("data", "fsdp", "tensor")
    assert tuple(mesh.axis_types) == (AxisType.Auto,) * 3  # Linen logical sharding needs Auto


def test_three_axis_mesh_uses_every_device_once():
    mesh = make_mesh(2, -1, 2)
    assert dict(mesh.shape) == {"data": 2, "fsdp": 2, "tensor": 2}
    ids = sorted(d.id for d in mesh.devices.ravel())
    assert ids == sorted(d.id for d in jax.devices())


def test_given_devices_only():
    devices = jax.devices()[2:4]
    mesh = make_mesh(1, 1, -1, devices=devices)
    assert dict(mesh.shape) == {"data": 1, "fsdp": 1, "tensor": 2}
    assert sorted(d.id for d in mesh.devices.ravel()) == sorted(d.id for d in devices)
    with pytest.raises(ValueError, match="needs 8 devices but 2"):
        make_mesh(8, 1, 1, devices=devices)


def test_a_computation_runs_on_the_mesh():
    mesh = make_mesh(2, 2, 2)
    spec = jax.sharding.PartitionSpec(("data", "fsdp"), "tensor")
    x = jax.device_put(np.arange(32.0).reshape(8, 4), jax.sharding.NamedSharding(mesh, spec))
    assert x.addressable_shards[0].data.shape == (2, 2)
    assert float(jax.jit(lambda a: (a * 2).sum())(x)) == 2 * float(np.arange(32.0).sum())
