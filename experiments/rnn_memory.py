"""Long-range memory: the adding problem (Hochreiter & Schmidhuber, 1997) by cell and length.

  python -m experiments.rnn_memory --config=experiments/configs/rnn/memory.py \
      --workdir=runs/rnn_memory

For every cell in `cells` and every length in `lengths`, a one-layer `research.rnn.layer.RNN` and a
linear readout of its last step (`EinsumDense`) regress onto the sum of the two marked values
(`research.data.memory_tasks.adding_problem`) with MSE, for `num_train_steps` of the project's
optimizer (`make_optimizer`: AdamW, warmup, decay, global-norm clip) on fresh batches. Every
`eval_every_steps` the run is scored on one fixed test set per length: MSE, and accuracy, the
fraction of sequences with |prediction - target| < `tolerance` (0.04, the paper's criterion),
next to predicting the mean (MSE 1/6). The table reports the final numbers and the first evaluated
step at which accuracy reached `solved_accuracy`, so a run that needs a longer budget says so.

Training runs in one jitted `lax.scan` per `eval_every_steps` chunk rather than the project's loop:
many short runs compared in one process need no checkpoints or resume. The chunk's batches are made
in numpy, seeded by (seed, length, chunk), so every cell sees the same data. Writes results.json,
results.md (the table, also logged) and memory.png (test accuracy by step, one panel per length).
"""

import pathlib
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from experiments import entry
from experiments.figures import plt, save
from experiments.results import write_results
from research.data.memory_tasks import adding_problem
from research.nn.dense import EinsumDense
from research.rnn.layer import RNN
from research.train.optimizer import make_optimizer

MEAN_BASELINE_MSE = 1.0 / 6.0  # Var(U1 + U2) for U ~ U(0, 1): the MSE of always predicting 1.0


def mean_baseline_accuracy(tolerance: float) -> float:
    """P(|U1 + U2 - 1| < tolerance): the sum's density is triangular with its peak at 1."""
    return 1.0 - (1.0 - tolerance) ** 2


class Regressor(nn.Module):
    """RNN then a linear readout of the last step. Shapes: x [B,T,2] -> prediction [B]."""

    cell: str
    hidden_dim: int
    forget_bias: float
    unroll: int

    @nn.compact
    def __call__(self, x):
        rnn = RNN(self.cell, self.hidden_dim, forget_bias=self.forget_bias, unroll=self.unroll)
        outputs, _ = rnn(x)
        readout = EinsumDense(
            "BH,HO->BO",
            kernel_shape=(self.hidden_dim, 1),
            kernel_axes=("hidden", "vocab"),
            bias_axes=("vocab",),
            name="readout",
        )
        return readout(outputs[:, -1])[:, 0]


def evaluate(model, params, test, tolerance: float) -> dict:
    """Test MSE and the fraction of sequences predicted within `tolerance`."""
    prediction = np.asarray(jax.jit(model.apply)({"params": params}, test["x"]))
    error = prediction - test["y"]
    return {
        "mse": float(np.mean(error**2)),
        "accuracy": float(np.mean(np.abs(error) < tolerance)),
    }


def train_run(kind: str, length: int, config, test) -> dict:
    """One cell at one length: evaluation curve, final numbers and the step it first solved."""
    model = Regressor(kind, config.hidden_dim, config.forget_bias, config.unroll)
    key = jax.random.fold_in(jax.random.key(config.seed), length)
    params = nn.unbox(model.init(key, jnp.zeros((1, length, 2))))["params"]
    tx = make_optimizer(config.optimizer, config.num_train_steps)

    def loss_fn(params, x, y):
        return jnp.mean((model.apply({"params": params}, x) - y) ** 2)

    def step(state, batch):
        params, opt_state = state
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    train_chunk = jax.jit(lambda state, xs, ys: jax.lax.scan(step, state, (xs, ys)))
    state, curve, solved_step = (params, tx.init(params)), [], None
    every = config.eval_every_steps
    start = time.perf_counter()
    for chunk, done in enumerate(range(every, config.num_train_steps + 1, every)):
        data = adding_problem(
            every * config.batch_size, length, seed=(config.seed, length, 1, chunk)
        )
        xs = data["x"].reshape(every, config.batch_size, length, 2)
        ys = data["y"].reshape(every, config.batch_size)
        state, losses = train_chunk(state, xs, ys)
        scores = evaluate(model, state[0], test, config.tolerance)
        curve.append({"step": done, "train_mse": float(np.mean(losses)), **scores})
        if solved_step is None and scores["accuracy"] >= config.solved_accuracy:
            solved_step = done
        logging.info(
            "%s T=%d step %d: train MSE %.4f, test MSE %.4f, accuracy %.3f",
            kind, length, done, curve[-1]["train_mse"], scores["mse"], scores["accuracy"],
        )  # fmt: skip
    seconds = time.perf_counter() - start
    return {**curve[-1], "solved_step": solved_step, "seconds": seconds, "curve": curve}


def _markdown(results, config) -> str:
    lines = [
        f"Adding problem, {config.num_train_steps} steps of batch {config.batch_size}, hidden "
        f"{config.hidden_dim}; test set of {config.test_size}. Accuracy: |error| < "
        f"{config.tolerance:g}. Predicting the mean: MSE {MEAN_BASELINE_MSE:.3f}, accuracy "
        f"{mean_baseline_accuracy(config.tolerance):.3f}.",
        "",
        "| cell | T | test MSE | accuracy | first step with accuracy >= "
        f"{config.solved_accuracy:g} | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for kind, by_length in results["runs"].items():
        for length, row in by_length.items():
            solved = row["solved_step"] if row["solved_step"] is not None else "not reached"
            lines.append(
                f"| {kind} | {length} | {row['mse']:.4f} | {row['accuracy']:.3f} | {solved} | "
                f"{row['seconds']:.0f} |"
            )
    return "\n".join(lines)


def _plot(path, results, config):
    lengths = config.lengths
    fig, axes = plt.subplots(1, len(lengths), figsize=(4.2 * len(lengths), 3.8), squeeze=False)
    for ax, length in zip(axes[0], lengths, strict=True):
        for i, (kind, by_length) in enumerate(results["runs"].items()):
            curve = by_length[str(length)]["curve"]
            steps = [p["step"] for p in curve]
            ax.plot(steps, [p["accuracy"] for p in curve], color=f"C{i}", label=kind)
        ax.axhline(config.solved_accuracy, color="gray", linewidth=0.8, linestyle=":")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"T = {length}")
        ax.set_xlabel("training step")
        ax.set_ylabel(f"test accuracy (|error| < {config.tolerance:g})")
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Adding problem: test accuracy while training (dotted: {config.solved_accuracy:g})"
    )
    fig.tight_layout()
    save(fig, path, dpi=120)


def main(config, workdir) -> dict:
    if config.num_train_steps % config.eval_every_steps:
        raise ValueError(
            f"--config.num_train_steps={config.num_train_steps} must be a multiple of "
            f"--config.eval_every_steps={config.eval_every_steps}."
        )
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cells = [k.strip() for k in config.cells.split(",")]
    results = {"mean_baseline_mse": MEAN_BASELINE_MSE, "runs": {kind: {} for kind in cells}}
    for length in config.lengths:
        test = adding_problem(config.test_size, length, seed=(config.seed, length, 0))
        results["mean_baseline_test_mse"] = float(np.mean((test["y"] - 1.0) ** 2))
        for kind in cells:
            results["runs"][kind][str(length)] = train_run(kind, length, config, test)

    table = _markdown(results, config)
    if write_results(workdir, results, table, title="Long-range memory, adding problem"):
        _plot(workdir / "memory.png", results, config)
    return results


if __name__ == "__main__":
    entry.run(main)
