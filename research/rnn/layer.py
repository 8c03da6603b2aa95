"""`RNN`: a Linen holder of a recurrent stack's parameters around `research.rnn.scan.run`.

Params: layer_{l}_{fwd,bwd}/{wi [I,G,H], wh [H,G,H], bi [G,H], bh [G,H]}, initialized as PyTorch
does (uniform in +-1/sqrt(H)), with `forget_bias` added to the LSTM's forget-gate input bias (1.0
is the common choice, Jozefowicz et al., 2015; 0.0 matches PyTorch). Logical axes: kernels
('embed', None, 'hidden'), biases (None, 'hidden'): the units shard over `tensor`, gates stay
whole. The input side of every kernel is 'embed' (sharded over `fsdp` for storage, as the input
side of every weight in the project), also for `wh` and upper layers' `wi`, whose inputs are
hidden units: one array cannot name 'hidden' twice.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from research.rnn.cells import Cell
from research.rnn.scan import run


def _uniform(scale: float, forget_bias: float = 0.0):
    """PyTorch's init; `forget_bias` is added to gate 1 (the LSTM's forget gate) of a bias."""

    def init(key, shape, dtype=jnp.float32):
        value = jax.random.uniform(key, shape, dtype, -scale, scale)
        return value.at[1].add(forget_bias) if forget_bias else value

    return init


class _CellParams(nn.Module):
    cell: Cell
    input_size: int
    forget_bias: float
    param_dtype: jnp.dtype

    @nn.compact
    def __call__(self):
        scale = 1.0 / self.cell.hidden_size**0.5
        shapes = self.cell.param_shapes(self.input_size)
        axes = {
            "wi": ("embed", None, "hidden"),
            "wh": ("embed", None, "hidden"),
            "bi": (None, "hidden"),
            "bh": (None, "hidden"),
        }
        forget_bias = self.forget_bias if self.cell.kind == "lstm" else 0.0
        inits = {
            "wi": _uniform(scale),
            "wh": _uniform(scale),
            "bi": _uniform(scale, forget_bias),
            "bh": _uniform(scale),
        }
        return {
            name: self.param(
                name,
                nn.with_logical_partitioning(inits[name], axes[name]),
                shapes[name],
                self.param_dtype,
            )
            for name in ("wi", "wh", "bi", "bh")
        }


class RNN(nn.Module):
    """A stack of recurrent layers (`custom_vjp`: see `scan.run`).

    Shapes: x [B,T,I] (or [T,B,I] when time_major), lengths int[B] or None ->
    (outputs [B,T,D*H], final carries: a list over layers and directions, see `scan.run`).
    """

    cell: str
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    dropout_rate: float = 0.0
    forget_bias: float = 0.0
    unroll: int = 1
    time_major: bool = False
    custom_vjp: bool = True
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, lengths=None, initial_carry=None, train: bool = False):
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}.")
        if x.ndim != 3:
            raise ValueError(f"RNN expects x of rank 3 ([B,T,I] or [T,B,I]), got {x.shape}.")
        cell = Cell(self.cell, self.hidden_size)
        directions = ("fwd", "bwd") if self.bidirectional else ("fwd",)
        params, input_size = [], x.shape[-1]
        for layer in range(self.num_layers):
            params.append(
                {
                    d: _CellParams(
                        cell, input_size, self.forget_bias, self.param_dtype,
                        name=f"layer_{layer}_{d}",
                    )()
                    for d in directions
                }
            )  # fmt: skip
            input_size = self.hidden_size * len(directions)
        params = jax.tree.map(lambda p: p.astype(self.dtype), params)
        use_dropout = train and self.dropout_rate > 0 and self.num_layers > 1
        return run(
            cell,
            params,
            x.astype(self.dtype),
            lengths=lengths,
            initial_carry=initial_carry,
            time_major=self.time_major,
            unroll=self.unroll,
            dropout_rate=self.dropout_rate,
            dropout_rng=self.make_rng("dropout") if use_dropout else None,
            custom_vjp=self.custom_vjp,
        )
