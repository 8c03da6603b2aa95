"""Recurrent cells as pure step functions: Elman (Elman, 1990), LSTM (Hochreiter and Schmidhuber,
1997, with the forget gate of Gers et al., 2000) and GRU (Cho et al., 2014).

Every cell has the same parameters per layer and direction, with G gates of width H
(G = 1 Elman, 4 LSTM, 3 GRU), in PyTorch's gate order (LSTM: input, forget, cell, output;
GRU: reset, update, new) so converters only transpose:

  wi [I,G,H]  input kernel      bi [G,H]  input bias
  wh [H,G,H]  recurrent kernel  bh [G,H]  recurrent bias

A step is split in two so a scan can hoist the input side out of the loop:
`project(params, x [..., I]) -> xw [..., G, H]` (one big matmul over all time steps), then
`cell.recur(params, carry, xw_t) -> (carry, y_t)` per step. `step(cell, params, carry, x)` is both,
the textbook form. Carries: h [B,H] for Elman and GRU, (h, c) for the LSTM; the output y is h.
"""

import dataclasses

import jax
import jax.numpy as jnp

KINDS = ("elman_tanh", "elman_relu", "lstm", "gru", "gru_reset_before")


def project(params, x):
    """The input side of every gate at once. Shapes: x [..., I] -> [..., G, H]."""
    return jnp.einsum("...I,IGH->...GH", x, params["wi"].astype(x.dtype)) + params["bi"]


def _recurrent(params, h):
    return jnp.einsum("BH,HGK->BGK", h, params["wh"].astype(h.dtype)) + params["bh"]  # [B,G,H]


def elman_recur(params, h, xw, *, activation):
    """h' = act(W_i x + b_i + W_h h + b_h). Shapes: h [B,H], xw [B,1,H] -> (h', h')."""
    h = activation(xw[:, 0] + _recurrent(params, h)[:, 0])
    return h, h


def lstm_recur(params, carry, xw):
    """i, f, o = sigmoid(.), g = tanh(.); c' = f c + i g; h' = o tanh(c').

    Shapes: carry (h [B,H], c [B,H]), xw [B,4,H] -> ((h', c'), h').
    """
    h, c = carry
    gates = xw + _recurrent(params, h)  # [B,4,H]
    i, f, g, o = (gates[:, k] for k in range(4))
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (h, c), h


def gru_recur(params, h, xw, *, reset_after: bool):
    """r, z = sigmoid(.); n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); h' = (1 - z) n + z h.

    `reset_after=True` is PyTorch's and cuDNN's form (above). `reset_after=False` is Cho et al.'s
    original: the reset gate scales h before its matmul, n = tanh(W_in x + b_in + W_hn (r h) + b_hn).
    Shapes: h [B,H], xw [B,3,H] -> (h', h').
    """
    hw = _recurrent(params, h)  # [B,3,H]
    r = jax.nn.sigmoid(xw[:, 0] + hw[:, 0])
    z = jax.nn.sigmoid(xw[:, 1] + hw[:, 1])
    if reset_after:
        n = jnp.tanh(xw[:, 2] + r * hw[:, 2])
    else:
        w_hn = params["wh"][:, 2].astype(h.dtype)  # [H,H]
        n = jnp.tanh(xw[:, 2] + (r * h) @ w_hn + params["bh"][2])
    h = (1 - z) * n + z * h
    return h, h


@dataclasses.dataclass(frozen=True)
class Cell:
    """A cell kind and its width; `recur` and `zero_carry` dispatch on the kind."""

    kind: str
    hidden_size: int

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Unknown cell {self.kind!r}; choose one of {', '.join(KINDS)}.")
        if self.hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, got {self.hidden_size}.")

    @property
    def num_gates(self) -> int:
        return {"lstm": 4, "gru": 3, "gru_reset_before": 3}.get(self.kind, 1)

    def zero_carry(self, batch_size: int, dtype=jnp.float32):
        h = jnp.zeros((batch_size, self.hidden_size), dtype)
        return (h, h) if self.kind == "lstm" else h

    def recur(self, params, carry, xw):
        """One step from the projected input. Shapes: xw [B,G,H] -> (carry, y [B,H])."""
        if self.kind == "lstm":
            return lstm_recur(params, carry, xw)
        if self.kind.startswith("gru"):
            return gru_recur(params, carry, xw, reset_after=self.kind == "gru")
        activation = jnp.tanh if self.kind == "elman_tanh" else jax.nn.relu
        return elman_recur(params, carry, xw, activation=activation)

    def param_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        g, h = self.num_gates, self.hidden_size
        return {"wi": (input_size, g, h), "wh": (h, g, h), "bi": (g, h), "bh": (g, h)}


def step(cell: Cell, params, carry, x):
    """The textbook step `(params, carry, x) -> (carry, y)`. Shapes: x [B,I], y [B,H]."""
    return cell.recur(params, carry, project(params, x))
