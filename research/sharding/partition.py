"""From logical axis names to mesh shardings: the only place that turns names into `NamedSharding`s.

Modules annotate parameters with `nn.with_logical_partitioning`; `jax.eval_shape` of an init function
returns those annotations as `nn.Partitioned` boxes. `state_shardings` reads them (leaves without a
box, such as the step counter, are replicated) and maps them onto the mesh with `rules` (default
`axes.RULES`; the loop passes the config's rules from `axes.with_additional_rules`).
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from research.sharding.axes import RULES


def state_shardings(abstract_boxed_tree, mesh: Mesh, rules: Sequence = RULES):
    """NamedShardings for every leaf of an (unboxed) tree, from the boxes in `abstract_boxed_tree`.

    The result has the structure of `nn.unbox(abstract_boxed_tree)`.
    """
    logical_specs = nn.get_partition_spec(abstract_boxed_tree)
    return nn.logical_to_mesh_sharding(logical_specs, mesh, list(rules))


def strip_boxes(tree):
    """The tree with `nn.Partitioned` boxes replaced by their values, adding no sharding constraint.

    (`nn.unbox` constrains each value to its logical sharding, which only works on traced arrays.)
    """
    is_box = lambda x: isinstance(x, nn.meta.AxisMetadata)
    return jax.tree.map(
        lambda x: x.unbox(apply_constraint=False) if is_box(x) else x, tree, is_leaf=is_box
    )


def batch_sharding(mesh: Mesh, rules: Sequence = RULES) -> NamedSharding:
    """Shards the leading (batch) dimension of every input array; other dimensions are replicated."""
    (spec,) = nn.logical_to_mesh_axes(("batch",), list(rules))
    return NamedSharding(mesh, PartitionSpec(spec))


def stacked_batch_sharding(mesh: Mesh, rules: Sequence = RULES) -> NamedSharding:
    """Batches stacked for several steps, [steps, B, ...]: the step axis whole on every device,
    the batch axis sharded as `batch_sharding` shards it."""
    (spec,) = nn.logical_to_mesh_axes(("batch",), list(rules))
    return NamedSharding(mesh, PartitionSpec(None, spec))


def global_batch(
    local_batch: dict, mesh: Mesh, rules: Sequence = RULES, *, stacked: bool = False
) -> dict:
    """Assembles each process's rows of a batch into global arrays sharded over the batch axes.

    `local_batch` leaves are numpy arrays [b, ...] holding this process's contiguous slice of the
    global batch [B, ...], B = b * process_count; with `stacked`, [steps, b, ...] (several steps'
    batches, `stacked_batch_sharding`).
    """
    sharding = (stacked_batch_sharding if stacked else batch_sharding)(mesh, rules)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)
