"""One layer-direction of the LSTM, GRU and Elman scans with a hand-written backward pass.

Reverse-mode autodiff of `lax.scan` keeps every intermediate of the step as a residual and
accumulates the recurrent kernel's gradient inside the backward loop: dW_h += h_{t-1}^T dgates_t
is T small [H,B] x [B,G*H] matmuls plus a [H,G*H] add per step. The `jax.custom_vjp` here does
what cuDNN and PyTorch's CPU kernels do:

- forward: the input side of every step is ONE matmul x [T*B,I] @ W_i before the loop; the
  biases are added inside the loop (fused with the gates, no extra pass over [T,B,G*H]); the
  scan saves only the activated gates and the carries it emits anyway;
- backward: a reversed scan only propagates dh (and dc) through one [B,G*H] x [G*H,H] matmul
  per step and emits the gates' gradient dgates_t; after the loop dW_h = h_prev^T dgates,
  dW_i = x^T dgates and dx = dgates W_i^T are one matmul each over all T*B rows, and the bias
  gradients one sum each (measured on the 2-core CPU: docs in experiments/benchmarks/rnn_scan.py).

Semantics are exactly `scan.scan_direction`'s plain scan: past a sequence's length
(alive = False) the carry passes through unchanged and the output is zero, so those steps get no
gradient and the gradient of the final carry reaches the last real step. Time-major throughout.
`fused_direction(kind, params, x, alive, carry)` is the entry; `SUPPORTED` are the kinds it
covers (Cho et al.'s `gru_reset_before`, with its matmul of r*h, stays on plain autodiff).
Forward-mode differentiation (`jax.jvp`) of a custom VJP is not defined: use
`scan.run(..., custom_vjp=False)` for it.
"""

import functools

import jax
import jax.numpy as jnp

SUPPORTED = ("lstm", "gru", "elman_tanh", "elman_relu")


def _shift(first, steps):
    """[first, steps[0], ..., steps[T-2]]: each step's incoming carry. Shapes: [B,H], [T,B,H]."""
    return jnp.concatenate([first[None], steps[:-1]], axis=0)


# ----------------------------------------------------------------------------------------- LSTM


def _project(x, wi):
    """The input side of every gate, one matmul. Shapes: x [T,B,I], wi [I,K] -> [T,B,K]."""
    steps, batch, size = x.shape
    return (x.reshape(steps * batch, size) @ wi).reshape(steps, batch, wi.shape[1])


def _weight_grads(x, h_prevs, wi, dxw, dhw):
    """dW_i, dW_h and dx, one matmul each over all steps. Shapes: x [T,B,I], h_prevs [T,B,H],
    dxw / dhw [T,B,K] (the gradients of the input and recurrent sides) -> [I,K], [H,K], [T,B,I]."""
    flat = lambda a: a.reshape(-1, a.shape[-1])
    dwi = flat(x).T @ flat(dxw)
    dwh = flat(h_prevs).T @ flat(dhw)
    dx = (flat(dxw) @ wi.T).reshape(x.shape)
    return dwi, dwh, dx


def _sigmoid_as_tanh(size, dtype):
    """Per-column scale and shift [4H] that turn one tanh over all four gates into sigmoid for i, f,
    o (sigmoid(z) = tanh(z / 2) / 2 + 1/2) and tanh for g: one kernel instead of four slices."""
    half, one, zero = (jnp.full((size,), v, dtype) for v in (0.5, 1.0, 0.0))
    return jnp.concatenate([half, half, one, half]), jnp.concatenate([half, half, zero, half])


def _lstm_scan(wi, w, b, x, alive, h0, c0, unroll, save):
    """wi [I,4H], w [H,4H], b [4H] (both biases), x [T,B,I], alive bool[T,B], h0/c0 [B,H].

    Returns (final (h, c), hs [T,B,H] or (hs, cs), acts [T,B,4H]). The projection's buffer is a
    loop carry: with `save` each step overwrites its own row with the activated gates (in place,
    no second [T,B,4H] buffer to allocate and zero)."""
    size = h0.shape[-1]
    scale, shift = _sigmoid_as_tanh(size, x.dtype)
    b_scaled = b * scale

    def body(carry, inputs):
        h, c, buf = carry
        t, a = inputs
        xw_t = jax.lax.dynamic_index_in_dim(buf, t, keepdims=False)
        act = jnp.tanh((xw_t + h @ w) * scale + b_scaled) * scale + shift  # [B,4H]: i, f, g, o
        i, f = act[:, :size], act[:, size : 2 * size]
        g, o = act[:, 2 * size : 3 * size], act[:, 3 * size :]
        c_new = f * c + i * g
        h_new = o * jnp.tanh(c_new)
        a = a[:, None]
        h_new, c_new = jnp.where(a, h_new, h), jnp.where(a, c_new, c)
        if save:
            buf = jax.lax.dynamic_update_index_in_dim(buf, act, t, 0)
        return (h_new, c_new, buf), ((h_new, c_new) if save else h_new)

    steps = x.shape[0]
    xs = (jnp.arange(steps), alive)
    (h, c, buf), out = jax.lax.scan(body, (h0, c0, _project(x, wi)), xs, unroll=unroll)
    return (h, c), out, buf


@functools.partial(jax.custom_vjp, nondiff_argnums=(6,))
def lstm_direction(wi, w, b, x, alive, carry, unroll=1):
    """Shapes: wi [I,4H], w [H,4H], b [4H] (b_i + b_h), x [T,B,I], alive bool[T,B],
    carry (h, c) [B,H] -> (outputs [T,B,H], final (h, c))."""
    final, hs, _ = _lstm_scan(wi, w, b, x, alive, *carry, unroll, save=False)
    return jnp.where(alive[..., None], hs, 0), final


def _lstm_fwd(wi, w, b, x, alive, carry, unroll):
    final, (hs, cs), acts = _lstm_scan(wi, w, b, x, alive, *carry, unroll, save=True)
    return (jnp.where(alive[..., None], hs, 0), final), (wi, w, x, alive, carry, hs, cs, acts)


def _lstm_bwd(unroll, residuals, cotangents):
    wi, w, x, alive, (h0, c0), hs, cs, acts = residuals
    dys, (dh_final, dc_final) = cotangents
    size = h0.shape[-1]
    w_t = w.T  # [4H,H]

    def body(carry, inputs):
        dh, dc = carry
        dy, act, c_prev, c_new, a = inputs
        i, f = act[:, :size], act[:, size : 2 * size]
        g, o = act[:, 2 * size : 3 * size], act[:, 3 * size :]
        dh_all = dh + dy
        tc = jnp.tanh(c_new)
        dc_all = dc + dh_all * o * (1 - tc * tc)
        dgates = jnp.concatenate(
            [
                dc_all * g * i * (1 - i),
                dc_all * c_prev * f * (1 - f),
                dc_all * i * (1 - g * g),
                dh_all * tc * o * (1 - o),
            ],
            axis=-1,
        )
        a = a[:, None]
        dgates = jnp.where(a, dgates, 0)
        dh = jnp.where(a, dgates @ w_t, dh)
        dc = jnp.where(a, dc_all * f, dc)
        return (dh, dc), dgates

    dys = jnp.where(alive[..., None], dys, 0)
    (dh0, dc0), dgates = jax.lax.scan(
        body, (dh_final, dc_final), (dys, acts, _shift(c0, cs), cs, alive),
        reverse=True, unroll=unroll,
    )  # fmt: skip
    dwi, dw, dx = _weight_grads(x, _shift(h0, hs), wi, dgates, dgates)
    return dwi, dw, dgates.sum((0, 1)), dx, None, (dh0, dc0)


lstm_direction.defvjp(_lstm_fwd, _lstm_bwd)


# ------------------------------------------------------------------------ GRU (reset after)


def _gru_scan(wi, w, bi, bh, x, alive, h0, unroll, save):
    """wi [I,3H], w [H,3H], bi / bh [3H], x [T,B,I], alive bool[T,B], h0 [B,H]."""
    size = h0.shape[-1]
    xw = _project(x, wi)

    def body(h, inputs):
        xw_t, a = inputs
        xw_t = xw_t + bi
        hw = h @ w + bh  # [B,3H]
        r = jax.nn.sigmoid(xw_t[:, :size] + hw[:, :size])
        z = jax.nn.sigmoid(xw_t[:, size : 2 * size] + hw[:, size : 2 * size])
        hw_n = hw[:, 2 * size :]
        n = jnp.tanh(xw_t[:, 2 * size :] + r * hw_n)
        h_new = jnp.where(a[:, None], (1 - z) * n + z * h, h)
        return h_new, ((h_new, jnp.concatenate([r, z, n, hw_n], axis=-1)) if save else h_new)

    return jax.lax.scan(body, h0, (xw, alive), unroll=unroll)


@functools.partial(jax.custom_vjp, nondiff_argnums=(7,))
def gru_direction(wi, w, bi, bh, x, alive, h0, unroll=1):
    """PyTorch's GRU (reset gate after the recurrent matmul). Shapes: wi [I,3H], w [H,3H],
    bi / bh [3H], x [T,B,I], alive bool[T,B], h0 [B,H] -> (outputs [T,B,H], final h)."""
    final, hs = _gru_scan(wi, w, bi, bh, x, alive, h0, unroll, save=False)
    return jnp.where(alive[..., None], hs, 0), final


def _gru_fwd(wi, w, bi, bh, x, alive, h0, unroll):
    final, (hs, acts) = _gru_scan(wi, w, bi, bh, x, alive, h0, unroll, save=True)
    return (jnp.where(alive[..., None], hs, 0), final), (wi, w, x, alive, h0, hs, acts)


def _gru_bwd(unroll, residuals, cotangents):
    wi, w, x, alive, h0, hs, acts = residuals
    dys, dh_final = cotangents
    size = h0.shape[-1]
    w_t = w.T  # [3H,H]

    def body(dh, inputs):
        dy, act, h_prev, a = inputs
        r, z = act[:, :size], act[:, size : 2 * size]
        n, hw_n = act[:, 2 * size : 3 * size], act[:, 3 * size :]
        dh_all = dh + dy
        dn = dh_all * (1 - z) * (1 - n * n)
        dr = dn * hw_n * r * (1 - r)
        dz = dh_all * (h_prev - n) * z * (1 - z)
        dhw = jnp.concatenate([dr, dz, dn * r], axis=-1)
        a = a[:, None]
        dhw = jnp.where(a, dhw, 0)
        dh = jnp.where(a, dh_all * z + dhw @ w_t, dh)
        return dh, (dhw, jnp.where(a, dn, 0))

    dys = jnp.where(alive[..., None], dys, 0)
    h_prevs = _shift(h0, hs)
    dh0, (dhw, dn) = jax.lax.scan(
        body, dh_final, (dys, acts, h_prevs, alive), reverse=True, unroll=unroll
    )
    dxw = jnp.concatenate([dhw[..., : 2 * size], dn], axis=-1)
    dwi, dw, dx = _weight_grads(x, h_prevs, wi, dxw, dhw)
    return dwi, dw, dxw.sum((0, 1)), dhw.sum((0, 1)), dx, None, dh0


gru_direction.defvjp(_gru_fwd, _gru_bwd)


# ---------------------------------------------------------------------------------- Elman


def _elman_scan(wi, w, b, x, alive, h0, relu, unroll):
    xw = _project(x, wi)

    def body(h, inputs):
        xw_t, a = inputs
        pre = xw_t + h @ w + b
        h_new = jnp.where(a[:, None], jax.nn.relu(pre) if relu else jnp.tanh(pre), h)
        return h_new, h_new

    return jax.lax.scan(body, h0, (xw, alive), unroll=unroll)


@functools.partial(jax.custom_vjp, nondiff_argnums=(6, 7))
def elman_direction(wi, w, b, x, alive, h0, relu=False, unroll=1):
    """Shapes: wi [I,H], w [H,H], b [H] (b_i + b_h), x [T,B,I], alive bool[T,B], h0 [B,H] ->
    (outputs [T,B,H], final h)."""
    final, hs = _elman_scan(wi, w, b, x, alive, h0, relu, unroll)
    return jnp.where(alive[..., None], hs, 0), final


def _elman_fwd(wi, w, b, x, alive, h0, relu, unroll):
    final, hs = _elman_scan(wi, w, b, x, alive, h0, relu, unroll)
    return (jnp.where(alive[..., None], hs, 0), final), (wi, w, x, alive, h0, hs)


def _elman_bwd(relu, unroll, residuals, cotangents):
    wi, w, x, alive, h0, hs = residuals
    dys, dh_final = cotangents
    w_t = w.T

    def body(dh, inputs):
        dy, h_new, a = inputs
        slope = (h_new > 0).astype(h_new.dtype) if relu else 1 - h_new * h_new
        a = a[:, None]
        dpre = jnp.where(a, (dh + dy) * slope, 0)
        return jnp.where(a, dpre @ w_t, dh), dpre

    dys = jnp.where(alive[..., None], dys, 0)
    dh0, dpre = jax.lax.scan(body, dh_final, (dys, hs, alive), reverse=True, unroll=unroll)
    dwi, dw, dx = _weight_grads(x, _shift(h0, hs), wi, dpre, dpre)
    return dwi, dw, dpre.sum((0, 1)), dx, None, dh0


elman_direction.defvjp(_elman_fwd, _elman_bwd)


# ---------------------------------------------------------------------------------- entry


def fused_direction(kind: str, params, x, alive, carry, *, unroll: int = 1):
    """One layer-direction, its input projection included, with the hand-written backward pass.

    Shapes: params (`cells.Cell.param_shapes`: wi [I,G,H], wh [H,G,H], bi / bh [G,H]), x [T,B,I]
    (time-major), alive bool[T,B], carry h [B,H] or (h, c) -> (outputs [T,B,H], final carry).
    """
    if kind not in SUPPORTED:
        raise ValueError(f"No hand-written backward pass for {kind!r}; use one of {SUPPORTED}.")
    size_in, gates, size = params["wi"].shape
    p = {k: params[k].astype(x.dtype) for k in ("wi", "wh", "bi", "bh")}
    wi, wh = p["wi"].reshape(size_in, gates * size), p["wh"].reshape(size, gates * size)
    bi, bh = p["bi"].reshape(gates * size), p["bh"].reshape(gates * size)
    if kind == "lstm":
        return lstm_direction(wi, wh, bi + bh, x, alive, tuple(carry), unroll)
    if kind == "gru":
        return gru_direction(wi, wh, bi, bh, x, alive, carry, unroll)
    return elman_direction(wi, wh, bi + bh, x, alive, carry, kind == "elman_relu", unroll)
