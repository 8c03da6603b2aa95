"""Gradient flow through time: how the loss gradient with respect to an earlier hidden state shrinks
(vanishes) or grows (explodes) with its distance from the loss (Hochreiter, 1991; Bengio et al.,
1994; Pascanu et al., 2013), and truncated backpropagation through time.

The gradient with respect to every hidden state at once: `perturbed_scan` adds a perturbation
eps_t (zero when measuring) to the hidden state after every step, so d loss / d eps_t is
d loss / d h_t, the gradient that backpropagation through time carries to step t (for the LSTM, the
gradient of h_t; its cell state c_t is not perturbed). With `truncate_steps` = k the carry passes
through `jax.lax.stop_gradient` every k steps, counted back from the last step, so a loss on the
last step has exactly zero gradient beyond distance k - 1.

  perturbed_scan(cell, params, x [B,T,I], eps [T,B,H] | None, truncate_steps) -> outputs [B,T,H]
  hidden_gradient_norms(cell, params, x, loss_fn, truncate_steps) -> norms [T] by distance
  fit_decay_rate(norms [T]) -> r, the factor the norm changes by per step of distance
  with_spectral_radius(params, radius) -> Elman params with the recurrent matrix rescaled
"""

import jax
import jax.numpy as jnp
import numpy as np

from research.rnn.cells import Cell, project


def _hidden(carry):
    return carry[0] if isinstance(carry, tuple) else carry  # LSTM carries (h, c)


def _add_to_hidden(carry, eps):
    return (carry[0] + eps, carry[1]) if isinstance(carry, tuple) else carry + eps


def perturbed_scan(cell: Cell, params, x, eps=None, *, truncate_steps: int = 0):
    """One forward layer from a zero carry, h_t = recur(h_{t-1}, x_t) + eps_t.

    The carry entering step t is cut (stop_gradient) when `truncate_steps` = k > 0 and
    (T - t) is a positive multiple of k smaller than T: the last chunk is a full k steps.
    Shapes: x [B,T,I], eps [T,B,H] or None -> outputs [B,T,H] (the perturbed hidden states).
    """
    if x.ndim != 3:
        raise ValueError(f"x must be [B,T,I], got shape {x.shape}.")
    batch, steps, _ = x.shape
    if eps is not None and eps.shape != (steps, batch, cell.hidden_size):
        raise ValueError(
            f"eps must be [T,B,H] = {[steps, batch, cell.hidden_size]}, got {list(eps.shape)}."
        )
    if truncate_steps < 0:
        raise ValueError(
            f"truncate_steps must be >= 0 (0 = full backpropagation), got {truncate_steps}."
        )
    xw = jnp.swapaxes(project(params, x), 0, 1)  # [T,B,G,H]

    def body(carry, inputs):
        t, xw_t, eps_t = inputs
        if truncate_steps:
            cut = (t > 0) & ((steps - t) % truncate_steps == 0)
            carry = jax.tree.map(lambda c: jnp.where(cut, jax.lax.stop_gradient(c), c), carry)
        carry, _ = cell.recur(params, carry, xw_t)
        if eps_t is not None:
            carry = _add_to_hidden(carry, eps_t)
        return carry, _hidden(carry)

    inputs = (jnp.arange(steps), xw, eps)
    _, ys = jax.lax.scan(body, cell.zero_carry(batch, x.dtype), inputs)
    return jnp.swapaxes(ys, 0, 1)


def _norm(g, axes):
    # Scaled by the largest entry first: squares of 1e20 overflow float32 and of 1e-25 underflow.
    scale = jnp.max(jnp.abs(g), axis=axes, keepdims=True)
    safe = jnp.where(scale > 0, scale, 1.0)
    return jnp.squeeze(scale, axes) * jnp.sqrt(jnp.sum((g / safe) ** 2, axis=axes))


def hidden_gradient_norms(cell: Cell, params, x, loss_fn, *, truncate_steps: int = 0):
    """||d loss / d h_t|| over the batch and units, indexed by distance d = T - 1 - t from the
    last step (norms[0] is the last step's).

    `loss_fn(outputs [B,T,H]) -> scalar`. Shapes: x [B,T,I] -> norms [T].
    """
    batch, steps, _ = x.shape
    eps = jnp.zeros((steps, batch, cell.hidden_size), x.dtype)
    loss = lambda e: loss_fn(perturbed_scan(cell, params, x, e, truncate_steps=truncate_steps))
    grads = jax.grad(loss)(eps)  # [T,B,H]
    return _norm(grads, (1, 2))[::-1]


def fit_decay_rate(norms, *, start: int = 0) -> float:
    """exp of the least-squares slope of log(norm) against distance, over distances >= `start`
    whose norm is positive and finite (a truncated tail of exact zeros is left out).

    r < 1: the gradient vanishes by a factor r per step; r > 1: it explodes. Shapes: norms [T].
    """
    norms = np.asarray(norms, np.float64)
    distance = np.arange(norms.size)
    keep = (distance >= start) & np.isfinite(norms) & (norms > np.finfo(np.float32).tiny)
    if keep.sum() < 2:
        raise ValueError(
            f"fit_decay_rate needs at least 2 positive, finite norms at distance >= {start}, "
            f"got {int(keep.sum())} of {norms.size}."
        )
    slope = np.polyfit(distance[keep], np.log(norms[keep]), 1)[0]
    return float(np.exp(slope))


def with_spectral_radius(params, radius: float):
    """An Elman cell's params with wh [H,1,H] scaled so its largest |eigenvalue| is `radius`."""
    wh = np.asarray(params["wh"])
    if wh.ndim != 3 or wh.shape[1] != 1:
        raise ValueError(
            f"with_spectral_radius needs an Elman cell's wh [H,1,H], got shape {list(wh.shape)}."
        )
    current = np.max(np.abs(np.linalg.eigvals(wh[:, 0, :].astype(np.float64))))
    return {**params, "wh": jnp.asarray(wh * (radius / current), params["wh"].dtype)}
