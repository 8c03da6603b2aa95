"""Starting a run from pre-trained weights: `Task(warm_start=from_pretrained(params))`.

The loop initializes every run with `model.init` (parameters born sharded, with their logical axes).
A task's `warm_start` hook then replaces the fresh values it selects with pre-trained ones, inside
the same jitted init, so the pre-trained weights land on the same shards a fresh init would use:

    pretrained = train(pretrain_config, workdir / "pretrain", pretrain_task).params
    task = Task(..., warm_start=from_pretrained(pretrained, select=lambda name: name != "classifier"))

`select(name)` picks top-level parameter collections by name (an encoder and its blocks, say,
while a new classification head keeps its fresh init); every selected one must exist in
`pretrained` with the same tree and shapes, or the run is refused with one sentence naming the
first difference. The hook runs only on a fresh start: a resumed run restores its checkpoint.
"""

from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Params = Mapping[str, Any]  # top-level name -> nested dict of arrays (boxed as model.init gives)


def _is_box(x) -> bool:
    return isinstance(x, nn.LogicallyPartitioned)


def _value(x):
    return x.value if _is_box(x) else x


def _paths(tree) -> dict[str, tuple[int, ...]]:
    leaves = jax.tree_util.tree_leaves_with_path(tree, is_leaf=_is_box)
    return {jax.tree_util.keystr(path): tuple(np.shape(_value(leaf))) for path, leaf in leaves}


def _check(name: str, fresh, pretrained) -> None:
    """One sentence for the first tensor that is missing, unexpected or of another shape."""
    want, have = _paths(fresh), _paths(pretrained)
    for path, shape in want.items():
        if path not in have:
            raise ValueError(
                f"The pre-trained weights lack {name}{path}, which the model has with shape "
                f"{shape}; warm-start from a run of the same architecture."
            )
        if have[path] != shape:
            raise ValueError(
                f"The pre-trained {name}{path} has shape {have[path]}, the model expects {shape}; "
                "fine-tune a model of the pre-trained size."
            )
    extra = sorted(set(have) - set(want))
    if extra:
        raise ValueError(
            f"The pre-trained {name} has {name}{extra[0]}, which the model lacks; warm-start from a "
            "run of the same architecture."
        )


def from_pretrained(
    pretrained: Params, select: Callable[[str], bool] | None = None
) -> Callable[[Params], Params]:
    """The `Task.warm_start` hook: fresh params -> params with `pretrained`'s values where selected.

    pretrained: a run's params (nested dicts of arrays, unboxed; e.g. `train(...).params`).
    select: which top-level names to take (None: all of them, so the two trees must be equal).
    Each taken value keeps the fresh one's logical-axis box and dtype.
    """
    pretrained = jax.tree.map(np.asarray, dict(pretrained))

    def warm_start(params: Params) -> Params:
        out = dict(params)
        for name in params:
            if select is not None and not select(name):
                continue
            if name not in pretrained:
                raise ValueError(
                    f"The pre-trained weights have no {name!r} (they have {sorted(pretrained)}); "
                    "warm-start from a run of the same architecture or leave it out of select."
                )
            _check(name, params[name], pretrained[name])

            def load(box, value):
                if _is_box(box):
                    return box.replace_boxed(jnp.asarray(value, box.value.dtype))
                return jnp.asarray(value, box.dtype)

            out[name] = jax.tree.map(load, params[name], pretrained[name], is_leaf=_is_box)
        return out

    return warm_start
