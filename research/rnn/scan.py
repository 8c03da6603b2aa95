"""One `jax.lax.scan` driver for every cell: layers, directions, variable lengths, initial states.

`run(cell, params, x, ...)` runs a stack of recurrent layers over a batch of sequences:

- the input side of each layer is one matmul over all time steps (`cells.project`), hoisted out of
  the scan, which only does the recurrent matmul and the gates;
- the LSTM, GRU and Elman layers are differentiated by the hand-written backward pass of
  `research.rnn.scan_vjp` (same values and gradients as autodiff of the plain scan, tested; no
  weight-gradient accumulation inside the loop); `custom_vjp=False` uses plain autodiff;
- time-major inside (the scan walks the leading axis; batch-major input is transposed once);
- variable-length batches: past a sequence's length its carry stops changing and its outputs are
  zero, so the final state is the state at its last real step; the backward direction runs each
  sequence reversed within its own length (`reverse_padded`), so it starts at the last real step;
- bidirectional layers concatenate [forward, backward] outputs, which feed the next layer;
- dropout between layers (not after the last), with an explicit rng;
- batch-major [B,T,I] or time-major [T,B,I] inputs; `unroll` is passed to `lax.scan`.

Params: a list over layers of {'fwd': cell params, 'bwd': cell params (bidirectional only)}.
Carries (initial and final): a list over layers and directions, in PyTorch's order
(layer 0 fwd, layer 0 bwd, layer 1 fwd, ...), each h [B,H] or (h, c) for the LSTM.
"""

import jax
import jax.numpy as jnp
import numpy as np

from research.rnn.cells import Cell, project
from research.rnn.scan_vjp import SUPPORTED, fused_direction


def reverse_padded(x, lengths):
    """Each row's first `length` steps reversed, the padding left in place.

    Shapes: x [B,T,...], lengths int[B] -> [B,T,...].
    """
    t = jnp.arange(x.shape[1])[None, :]  # [1,T]
    index = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # [B,T]
    index = index.reshape(index.shape + (1,) * (x.ndim - 2))
    return jnp.take_along_axis(x, index, axis=1)


def _reverse_padded_time_major(x, lengths):
    """`reverse_padded` on time-major arrays. Shapes: x [T,B,...], lengths int[B] -> [T,B,...]."""
    t = jnp.arange(x.shape[0])[:, None]  # [T,1]
    index = jnp.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)  # [T,B]
    index = index.reshape(index.shape + (1,) * (x.ndim - 2))
    return jnp.take_along_axis(x, index, axis=0)


def scan_direction(cell: Cell, params, x, lengths, carry, *, unroll: int = 1, custom_vjp=True):
    """One layer, one direction, forward in time, time-major. Shapes: x [T,B,I] (the layer's
    input), lengths int[B] -> (outputs [T,B,H], final carry).

    With `custom_vjp` (the default) the LSTM, GRU and Elman cells take the hand-written backward
    pass of `scan_vjp` (same values and gradients, about half the backward work); otherwise, and
    for `gru_reset_before`, reverse-mode autodiff of the scan below.
    """
    steps = x.shape[0]
    alive = jnp.arange(steps)[:, None] < lengths[None, :]  # [T,B]
    if custom_vjp and cell.kind in SUPPORTED:
        return fused_direction(cell.kind, params, x, alive, carry, unroll=unroll)
    xw = project(params, x)  # [T,B,G,H]: one matmul over all steps

    def body(carry, inputs):
        xw_t, alive_t = inputs  # [B,G,H], [B]
        new, y = cell.recur(params, carry, xw_t)
        keep = lambda n, o: jnp.where(alive_t[:, None], n, o)
        return jax.tree.map(keep, new, carry), jnp.where(alive_t[:, None], y, 0)

    carry, ys = jax.lax.scan(body, carry, (xw, alive), unroll=unroll)
    return ys, carry


def _check_lengths(lengths, batch: int, steps: int):
    try:
        host = np.asarray(lengths)
    except jax.errors.TracerArrayConversionError:
        return  # traced lengths cannot be checked here
    if host.shape != (batch,) or not np.issubdtype(host.dtype, np.integer):
        raise ValueError(f"lengths must be int[{batch}], got {host.dtype}{list(host.shape)}.")
    if host.size and (host.min() < 1 or host.max() > steps):
        raise ValueError(
            f"lengths must lie in [1, {steps}] (the sequence length), got values in "
            f"[{host.min()}, {host.max()}]."
        )


def _check_carry(cell: Cell, carry, batch: int, dtype):
    """One layer-direction's initial carry as the scan needs it: h, or the tuple (h, c)."""
    leaves = jax.tree.leaves(carry)
    if len(leaves) != (2 if cell.kind == "lstm" else 1):
        # An LSTM given a bare h [2,H] would otherwise be unpacked along its batch axis.
        raise ValueError(
            f"An initial carry of the {cell.kind} cell must be "
            f"{'a pair (h, c)' if cell.kind == 'lstm' else 'one array h'} of shape [B,H], got "
            f"{len(leaves)} array(s); pass one such carry per layer and direction."
        )
    for h in leaves:
        if h.shape != (batch, cell.hidden_size):
            raise ValueError(
                f"initial carry of shape {h.shape} does not match [B,H] = "
                f"{(batch, cell.hidden_size)}."
            )
    leaves = [jnp.asarray(h, dtype) for h in leaves]  # the scan's carry keeps the input's dtype
    return tuple(leaves) if cell.kind == "lstm" else leaves[0]


def run(
    cell: Cell,
    params: list,
    x,
    *,
    lengths=None,
    initial_carry=None,
    time_major: bool = False,
    unroll: int = 1,
    dropout_rate: float = 0.0,
    dropout_rng=None,
    custom_vjp: bool = True,
):
    """Runs the stack. Shapes: x [B,T,I] (or [T,B,I] when time_major), lengths int[B] or None
    (all T) -> (outputs [B,T,D*H] (or [T,B,D*H]), final carries (list of L*D)).

    Dropout with `dropout_rate` > 0 needs `dropout_rng` (pass none outside training).
    `custom_vjp=False` differentiates the LSTM, GRU and Elman scans by plain autodiff instead of
    `scan_vjp`'s hand-written backward pass (same gradients; needed for forward-mode `jax.jvp`).
    """
    if x.ndim != 3:
        raise ValueError(
            f"x must be {'[T,B,I]' if time_major else '[B,T,I]'}, got shape {x.shape}."
        )
    steps, batch = x.shape[:2] if time_major else x.shape[1::-1]
    directions = 2 if "bwd" in params[0] else 1
    if lengths is None:
        lengths = jnp.full((batch,), steps, jnp.int32)
    _check_lengths(lengths, batch, steps)
    lengths = jnp.asarray(lengths, jnp.int32)
    if initial_carry is None:
        initial_carry = [cell.zero_carry(batch, x.dtype)] * (len(params) * directions)
    if len(initial_carry) != len(params) * directions:
        raise ValueError(
            f"initial_carry has {len(initial_carry)} entries; expected one per layer and "
            f"direction, {len(params) * directions}."
        )
    initial_carry = [_check_carry(cell, carry, batch, x.dtype) for carry in initial_carry]

    # Time-major inside: the scan walks the leading axis, so no per-layer transposes.
    x = x if time_major else jnp.swapaxes(x, 0, 1)  # [T,B,I]
    finals = []
    for layer, layer_params in enumerate(params):
        carries = initial_carry[layer * directions : (layer + 1) * directions]
        ys, carry = scan_direction(
            cell, layer_params["fwd"], x, lengths, carries[0],
            unroll=unroll, custom_vjp=custom_vjp,
        )  # fmt: skip
        outputs, finals = [ys], [*finals, carry]
        if directions == 2:
            reversed_x = _reverse_padded_time_major(x, lengths)
            ys, carry = scan_direction(
                cell, layer_params["bwd"], reversed_x, lengths, carries[1], unroll=unroll,
                custom_vjp=custom_vjp,
            )  # fmt: skip
            outputs.append(_reverse_padded_time_major(ys, lengths))
            finals.append(carry)
        x = jnp.concatenate(outputs, axis=-1) if directions == 2 else outputs[0]  # [T,B,D*H]
        if dropout_rate > 0 and layer < len(params) - 1 and dropout_rng is not None:
            # Drawn batch-major, so a seed drops the same units in either layout.
            keep = jax.random.bernoulli(
                jax.random.fold_in(dropout_rng, layer), 1 - dropout_rate,
                (x.shape[1], x.shape[0], x.shape[2]),
            )  # fmt: skip
            x = jnp.where(jnp.swapaxes(keep, 0, 1), x / (1 - dropout_rate), 0)
    return (x if time_major else jnp.swapaxes(x, 0, 1)), finals
