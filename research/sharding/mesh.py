"""Building the device mesh from the `mesh` section of a config.

The mesh always has the axes `('data', 'fsdp', 'tensor')` (see `axes.MESH_AXES`). One size may be -1,
meaning "all remaining devices"; the product must equal the number of devices.
"""

import math

import jax
import numpy as np
from jax.sharding import AxisType, Mesh

from research.sharding.axes import MESH_AXES


def resolve_mesh_shape(data: int, fsdp: int, tensor: int, num_devices: int) -> tuple[int, int, int]:
    """Returns the (data, fsdp, tensor) sizes with a -1 entry filled in from `num_devices`."""
    sizes = [data, fsdp, tensor]
    if sizes.count(-1) > 1:
        raise ValueError(
            f"mesh sizes {dict(zip(MESH_AXES, sizes, strict=True))} have more than one -1; "
            "at most one axis may take the remaining devices, so set the others explicitly."
        )
    if any(s == 0 or s < -1 for s in sizes):
        raise ValueError(
            f"mesh sizes {dict(zip(MESH_AXES, sizes, strict=True))} must be positive or -1; "
            "fix --config.mesh.*."
        )
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if num_devices % known:
            raise ValueError(
                f"{num_devices} devices cannot be split into a mesh whose fixed axes multiply to "
                f"{known}; choose --config.mesh.* sizes that divide {num_devices}."
            )
        sizes[sizes.index(-1)] = num_devices // known
    if math.prod(sizes) != num_devices:
        raise ValueError(
            f"mesh {dict(zip(MESH_AXES, sizes, strict=True))} needs {math.prod(sizes)} devices but "
            f"{num_devices} are available; make the sizes multiply to {num_devices} or set one to -1."
        )
    return tuple(sizes)


def make_mesh(data: int = -1, fsdp: int = 1, tensor: int = 1, devices=None) -> Mesh:
    """A `Mesh` over all (or the given) devices with axes ('data', 'fsdp', 'tensor').

    Axes are `Auto`: Linen's logical partitioning relies on the compiler propagating shardings, which
    `jax.make_mesh`'s default Explicit axes would forbid.
    """
    devices = jax.devices() if devices is None else list(devices)
    shape = resolve_mesh_shape(data, fsdp, tensor, len(devices))
    try:
        from jax.experimental import mesh_utils

        grid = mesh_utils.create_device_mesh(shape, devices=devices)
    except (ImportError, ValueError, NotImplementedError, AssertionError):
        grid = np.asarray(devices).reshape(shape)
    return Mesh(grid, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES))
