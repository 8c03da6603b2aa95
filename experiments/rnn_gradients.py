"""Gradient flow through time in Elman, LSTM and GRU cells: vanishing and exploding gradients,
clipping by global norm, and truncated backpropagation through time.

  python -m experiments.rnn_gradients --config=experiments/configs/rnn/gradients.py \
      --workdir=runs/rnn_gradients

The task reads one time step only: a linear readout of the last hidden state regresses onto the
input seen `lag` steps before the end of `seq_len` Gaussian inputs. For each cell the script
measures ||d loss / d h_t|| at every distance from that last step (`research.rnn.gradient_flow`),
at initialization and after `num_train_steps` of training, and fits the per-step decay rate. Then
an Elman cell whose recurrent matrix has spectral radius `exploding.spectral_radius` > 1 trains
from one initialization twice: without clipping, and with the global gradient norm clipped to
`optimizer.grad_clip_norm` (`optax.clip_by_global_norm`, as the project's optimizer does), with
SGD: a step proportional to the gradient is what explodes. A third run, Adam without clipping,
shows why the project's AdamW rarely diverges this way: it divides each update by the gradient's
running scale. The cells train with Adam behind the clip.

Training runs in one jitted `lax.scan` per run rather than the project's loop: several runs of
a few hundred steps on fresh synthetic batches, compared from one initialization, need no
checkpoints, evaluation or resume. Writes results.json, results.md (the table, also logged),
gradient_norms.png and exploding.png to the workdir.
"""

import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from experiments import entry
from experiments.figures import plt, save
from experiments.results import write_results
from research.rnn import gradient_flow
from research.rnn.cells import Cell
from research.rnn.layer import RNN


def init_params(kind: str, config, key):
    """The project's RNN initialization (`research.rnn.layer.RNN`) plus a random readout (a zero
    readout would make every hidden-state gradient zero at initialization)."""
    cell_key, readout_key = jax.random.split(key)
    layer = RNN(cell=kind, hidden_size=config.hidden_dim, forget_bias=config.forget_bias)
    cell = nn.unbox(layer.init(cell_key, jnp.zeros((1, 2, 1))))["params"]["layer_0_fwd"]
    w = jax.random.normal(readout_key, (config.hidden_dim,)) / np.sqrt(config.hidden_dim)
    readout = {"w": w, "b": jnp.zeros(())}
    return {"cell": cell, "readout": readout}


def make_batch(config, key):
    """x [B,T,1] standard normal; y [B] = the input `lag` steps before the last step."""
    x = jax.random.normal(key, (config.batch_size, config.seq_len, 1))
    return x, x[:, config.seq_len - 1 - config.lag, 0]


def readout_loss(params, outputs, y):
    """Mean squared error of the last step's linear readout. Shapes: outputs [B,T,H], y [B]."""
    prediction = outputs[:, -1] @ params["readout"]["w"] + params["readout"]["b"]
    return jnp.mean((prediction - y) ** 2)


def gradient_norms(cell: Cell, params, config, key):
    """||d loss / d h_t|| by distance from the last step, on one batch. Shapes: -> [T]."""
    x, y = make_batch(config, key)
    loss_fn = lambda outputs: readout_loss(params, outputs, y)
    return gradient_flow.hidden_gradient_norms(
        cell, params["cell"], x, loss_fn, truncate_steps=config.truncate_steps
    )


def make_optimizer(name: str, learning_rate: float, grad_clip_norm: float, momentum: float = 0.0):
    """Adam or SGD (with momentum), behind `optax.clip_by_global_norm` unless the clip is 0."""
    if name == "adam":
        tx = optax.adam(learning_rate)
    else:
        tx = optax.sgd(learning_rate, momentum=momentum)
    return optax.chain(optax.clip_by_global_norm(grad_clip_norm), tx) if grad_clip_norm else tx


def train(cell: Cell, params, config, tx, key):
    """`num_train_steps` of `tx` on fresh batches; returns (params, losses [S], grad norms [S]),
    the grad norms before clipping."""

    def loss(params, x, y):
        outputs = gradient_flow.perturbed_scan(
            cell, params["cell"], x, truncate_steps=config.truncate_steps
        )
        return readout_loss(params, outputs, y)

    def step(state, step_key):
        params, opt_state = state
        value, grads = jax.value_and_grad(loss)(params, *make_batch(config, step_key))
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (value, optax.tree.norm(grads))

    keys = jax.random.split(key, config.num_train_steps)
    run = jax.jit(lambda params: jax.lax.scan(step, (params, tx.init(params)), keys))
    (params, _), (losses, norms) = run(params)
    return params, np.asarray(losses), np.asarray(norms)


def _log_losses(name: str, losses, every: int):
    for s in range(every, len(losses) + 1, every):
        logging.info("%s step %d: loss %.4g", name, s, losses[s - 1])


def _plot_norms(path, curves: dict, truncate_steps: int, title: str):
    """curves: label -> (norms [T], color, linestyle)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, (norms, color, style) in curves.items():
        norms = np.asarray(norms, np.float64)
        distance = np.arange(norms.size)
        shown = norms > 0  # a log axis cannot show the exact zeros past a truncation
        ax.semilogy(distance[shown], norms[shown], color=color, linestyle=style, label=label)
    if truncate_steps:
        ax.axvline(
            truncate_steps, color="gray", linewidth=0.8, label=f"truncate_steps={truncate_steps}"
        )
    ax.set_xlabel("distance from the loss's time step (steps)")
    ax.set_ylabel("||d loss / d h_t||")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, path, dpi=120)


def _plot_exploding(path, norms, curves: dict, truncate_steps: int, radius: float):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    norms = np.asarray(norms, np.float64)
    shown = norms > 0
    left.semilogy(np.arange(norms.size)[shown], norms[shown], color="C3")
    if truncate_steps:
        left.axvline(truncate_steps, color="gray", linewidth=0.8)
    left.set_xlabel("distance from the loss's time step (steps)")
    left.set_ylabel("||d loss / d h_t|| at initialization")
    left.set_title(f"Elman tanh, spectral radius {radius:g}")
    for label, losses in curves.items():
        steps = np.arange(1, len(losses) + 1)
        finite = np.isfinite(losses)
        right.semilogy(steps[finite], losses[finite], label=label)
    right.set_xlabel("training step")
    right.set_ylabel("training loss (non-finite values not drawn)")
    right.set_title("SGD with and without clipping")
    right.legend(fontsize=8)
    fig.tight_layout()
    save(fig, path, dpi=120)


def _markdown(results) -> str:
    lines = [
        "| cell | decay rate r at init | r after training | loss at init | final loss |",
        "|---|---|---|---|---|",
    ]
    for kind, row in results["cells"].items():
        lines.append(
            f"| {kind} | {row['rate_init']:.4f} | {row['rate_trained']:.4f} | "
            f"{row['loss_first']:.4g} | {row['loss_final']:.4g} |"
        )
    ex = results["exploding"]
    lines += [
        "",
        f"Exploding: Elman tanh, spectral radius {ex['spectral_radius']:g}, "
        f"gradient growth rate r at init {ex['rate_init']:.4f}.",
        "",
        "| run | final loss | max loss | max grad norm | first non-finite step |",
        "|---|---|---|---|---|",
    ]
    for name, row in ex["runs"].items():
        lines.append(
            f"| {name} | {row['loss_final']:.4g} | {row['loss_max']:.4g} | "
            f"{row['grad_norm_max']:.4g} | {row['first_nonfinite_step']} |"
        )
    return "\n".join(lines)


def _run_summary(losses, grad_norms) -> dict:
    bad = ~(np.isfinite(losses) & np.isfinite(grad_norms))
    finite_norms = grad_norms[np.isfinite(grad_norms)]
    return {
        "loss_first": float(losses[0]),
        "loss_final": float(np.mean(losses[-max(1, len(losses) // 10) :])),
        "loss_max": float(np.nanmax(np.where(np.isfinite(losses), losses, np.nan), initial=0.0)),
        "grad_norm_max": float(finite_norms.max(initial=0.0)),
        "first_nonfinite_step": int(np.argmax(bad)) + 1 if bad.any() else None,
    }


def main(config, workdir) -> dict:
    if config.lag >= config.seq_len:
        raise ValueError(
            f"--config.lag={config.lag} must be below --config.seq_len={config.seq_len}."
        )
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(config.seed)
    init_key, train_key, measure_key = jax.random.split(key, 3)
    opt, ex = config.optimizer, config.exploding
    adam = make_optimizer("adam", opt.learning_rate, opt.grad_clip_norm)

    results, curves = {"cells": {}}, {}
    for i, kind in enumerate(k.strip() for k in config.cells.split(",")):
        cell = Cell(kind, config.hidden_dim)
        params = init_params(kind, config, jax.random.fold_in(init_key, i))
        before = gradient_norms(cell, params, config, measure_key)
        trained, losses, grad_norms = train(cell, params, config, adam, train_key)
        after = gradient_norms(cell, trained, config, measure_key)
        start = config.fit_start
        results["cells"][kind] = {
            "rate_init": gradient_flow.fit_decay_rate(before, start=start),
            "rate_trained": gradient_flow.fit_decay_rate(after, start=start),
            "nonzero_distances_init": int(np.count_nonzero(np.asarray(before))),
            **_run_summary(losses, grad_norms),
            "norms_init": np.asarray(before).tolist(),
            "norms_trained": np.asarray(after).tolist(),
        }
        _log_losses(kind, losses, config.log_every_steps)
        color = f"C{i}"
        curves[f"{kind} init"] = (before, color, "-")
        curves[f"{kind} trained"] = (after, color, "--")

    cell = Cell("elman_tanh", config.hidden_dim)
    params = init_params("elman_tanh", config, jax.random.fold_in(init_key, 1000))
    params["cell"] = gradient_flow.with_spectral_radius(params["cell"], ex.spectral_radius)
    norms = gradient_norms(cell, params, config, measure_key)
    runs, loss_curves = {}, {}
    clip = opt.grad_clip_norm
    optimizers = {
        "SGD, no clipping": make_optimizer("sgd", ex.learning_rate, 0.0, ex.momentum),
        f"SGD, clip at {clip:g}": make_optimizer("sgd", ex.learning_rate, clip, ex.momentum),
        "Adam, no clipping": make_optimizer("adam", opt.learning_rate, 0.0),
    }
    for name, tx in optimizers.items():
        _, losses, grad_norms = train(cell, params, config, tx, train_key)
        runs[name] = _run_summary(losses, grad_norms)
        loss_curves[name] = losses
        _log_losses(f"exploding, {name}", losses, config.log_every_steps)
    results["exploding"] = {
        "spectral_radius": ex.spectral_radius,
        "rate_init": gradient_flow.fit_decay_rate(norms, start=config.fit_start),
        "norms_init": np.asarray(norms).tolist(),
        "runs": runs,
    }

    table = _markdown(results)
    if write_results(workdir, results, table, title="Gradient flow through time"):
        _plot_norms(
            workdir / "gradient_norms.png",
            curves,
            config.truncate_steps,
            "Gradient of a last-step loss w.r.t. h_t (solid: init, dashed: trained "
            f"{config.num_train_steps} steps)",
        )
        _plot_exploding(
            workdir / "exploding.png", norms, loss_curves, config.truncate_steps, ex.spectral_radius
        )
    return results


if __name__ == "__main__":
    entry.run(main)
