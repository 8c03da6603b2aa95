"""Why attention divides its scores by sqrt(d_k), measured.

  python -m experiments.attention_scale --config=experiments/configs/attention/scale.py \
      --workdir=runs/attention_scale

Part 1, random queries and keys. For each head width d_k in `config.head_dims`, q and k with
independent standard normal entries ([B,T,N,d_k], fixed seed) give the scores q.k, with the scale
1/sqrt(d_k) and without it. q.k sums d_k products of unit variance, so its variance is d_k: the
unscaled scores spread like sqrt(d_k), the scaled ones stay at unit variance whatever the width.
Measured per setting: the standard deviation of the scores, the mean softmax entropy over the keys
(log T when uniform; about log T - 1/2 for unit-variance scores, the closed form of
`lognormal_entropy`), the fraction of saturated rows (largest probability > the threshold), and
the gradient of a simple loss through the softmax (each row's sum_j p_j g_j against fixed
standard normal g) with respect to the scores and to q: its norm shrinks towards 0 as rows
saturate, which is what stops an unscaled model from learning.

Part 2, training. GPT-tiny (the config's `lm` section: the main job's model, data and optimizer,
`research.tasks.lm`) with few heads so that each is wide (lm.model.num_heads=1: d_k = 256),
trained twice as stages (`experiments.stages`), same seed and data: lm.model.attention_scale None
(1/sqrt(d_k)) and 1.0 (no scale). Each run's workdir is <workdir>/<name>; a preempted run stops
the experiment (rerun to resume it).

Writes results.json, results.md (both tables, also logged) and attention_scale.png (statistics
against d_k on a log axis, and the two training curves) to the workdir.
"""

import math
import pathlib
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from experiments import entry, stages
from experiments.figures import plt, save
from experiments.results import write_results
from research.tasks.lm import build_task
from research.train.metrics import metric_curve

# name -> transformer_lm Config.attention_scale
RUNS = {"scaled": None, "unscaled": 1.0}


def attention_probabilities(q, k, scale: float):
    """softmax over keys of q.k * scale, and the scores themselves.

    Shapes: q [B,T,N,H], k [B,S,N,H] -> (probabilities [B,N,T,S], scaled scores [B,N,T,S]).
    """
    scores = jnp.einsum("btnh,bsnh->bnts", q, k) * scale
    return jax.nn.softmax(scores, axis=-1), scores


def lognormal_entropy(length: int, std: float) -> float:
    """Softmax entropy of `length` iid N(0, std^2) scores for large `length`: log T - std^2 / 2.

    (Z = sum_j e^s_j ~ T e^{std^2/2} and sum_j p_j s_j ~ E[s e^s] / E[e^s] = std^2, so
    H = log Z - sum_j p_j s_j ~ log T + std^2/2 - std^2.) Valid while T >> e^{std^2}.
    """
    return math.log(length) - std**2 / 2


def score_statistics(
    head_dim: int,
    *,
    scaled: bool,
    batch_size: int,
    num_heads: int,
    length: int,
    seed: int,
    saturation: float = 0.99,
) -> dict:
    """Statistics of softmax(q.k * scale) for standard normal q, k of width `head_dim`.

    Returns a dict of floats: score_std (of the scores the softmax sees), entropy (mean over
    rows, nats), max_entropy (log T), saturated (fraction of rows whose largest probability
    exceeds `saturation`), grad_scores and grad_q (mean over rows / queries of the gradient norm
    of the loss sum_rows sum_j p_j g_j, g fixed standard normal, w.r.t. the scores and w.r.t. q).
    """
    if head_dim < 1 or length < 2:
        raise ValueError(
            f"head_dim={head_dim} and length={length} must be >= 1 and >= 2; pass e.g. 64, 128."
        )
    kq, kk, kg = jax.random.split(jax.random.key(seed), 3)
    shape = (batch_size, length, num_heads, head_dim)
    q = jax.random.normal(kq, shape)
    k = jax.random.normal(kk, shape)
    g = jax.random.normal(kg, (batch_size, num_heads, length, length))
    scale = 1 / math.sqrt(head_dim) if scaled else 1.0

    def loss_of_scores(scores):
        return jnp.sum(jax.nn.softmax(scores, axis=-1) * g)

    def loss_of_q(q):
        return loss_of_scores(attention_probabilities(q, k, scale)[1])

    probs, scores = attention_probabilities(q, k, scale)
    grad_scores = jax.grad(loss_of_scores)(scores)  # each row's loss depends on its row only
    grad_q = jax.grad(loss_of_q)(q)
    entropy = jnp.sum(jax.scipy.special.entr(probs), axis=-1)
    return {
        "head_dim": head_dim,
        "scaled": scaled,
        "score_std": float(jnp.std(scores)),
        "entropy": float(jnp.mean(entropy)),
        "max_entropy": math.log(length),
        "saturated": float(jnp.mean(jnp.max(probs, axis=-1) > saturation)),
        "grad_scores": float(jnp.mean(jnp.linalg.norm(grad_scores, axis=-1))),
        "grad_q": float(jnp.mean(jnp.linalg.norm(grad_q, axis=-1))),
    }


def statistics_rows(config) -> list[dict]:
    rows = []
    for head_dim in config.head_dims:
        for scaled in (True, False):
            rows.append(
                score_statistics(
                    head_dim,
                    scaled=scaled,
                    batch_size=config.batch_size,
                    num_heads=config.num_heads,
                    length=config.length,
                    seed=config.seed,
                    saturation=config.saturation,
                )
            )
            logging.info("%s", rows[-1])
    return rows


def run_config(config, attention_scale: float | None):
    """The `lm` section with the given scale: the only key the runs differ in."""
    lm = config.lm.copy_and_resolve_references()
    lm.model.attention_scale = attention_scale
    return lm


def train_runs(config, workdir: pathlib.Path) -> list[dict]:
    rows = []
    for name, scale in RUNS.items():
        lm = run_config(config, scale)
        start = time.perf_counter()
        devices = jax.devices()[: config.num_devices or None]
        result = stages.run(name, lm, workdir, build_task(lm, workdir / name), devices=devices)
        steps, losses = metric_curve(result.workdir, "train/loss")
        step_seconds = metric_curve(result.workdir, "train/seconds_per_step")[1]
        head_dim = lm.model.embed_dim // lm.model.num_heads
        rows.append({
            "run": name,
            "attention_scale": 1 / math.sqrt(head_dim) if scale is None else scale,
            "head_dim": head_dim,
            "steps": lm.num_train_steps,
            "train_steps": steps,
            "train_losses": losses,
            "final_train_loss": losses[-1],
            "eval_loss": result.metrics["eval/loss"],
            "eval_nats_per_byte": result.metrics["eval/nats_per_byte"],
            "seconds_per_step": statistics.median(step_seconds[1:] or step_seconds),
            "wall_seconds": time.perf_counter() - start,
        })  # fmt: skip
        logging.info("%s: final train loss %.4f, eval %.4f nats/byte", name,
                     losses[-1], result.metrics["eval/nats_per_byte"])  # fmt: skip
    return rows


def markdown(stats: list[dict], runs: list[dict], length: int) -> str:
    lines = [
        f"Random q, k (standard normal entries), T = {length} keys; max entropy log T = "
        f"{math.log(length):.3f} nats.",
        "",
        "| d_k | scale | score std | entropy (nats) | saturated rows | grad norm (scores) "
        "| grad norm (q) |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in stats:
        scale = "1/sqrt(d_k)" if r["scaled"] else "none"
        lines.append(
            f"| {r['head_dim']} | {scale} | {r['score_std']:.3f} | {r['entropy']:.3f} | "
            f"{r['saturated']:.3f} | {r['grad_scores']:.3g} | {r['grad_q']:.3g} |"
        )
    if runs:
        lines += [
            "",
            "| GPT run | d_k | scale | steps | final train loss | val nats/byte | ms / step |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in runs:
            lines.append(
                f"| {r['run']} | {r['head_dim']} | {r['attention_scale']:.4g} | {r['steps']} | "
                f"{r['final_train_loss']:.4f} | {r['eval_nats_per_byte']:.4f} | "
                f"{1000 * r['seconds_per_step']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def plot(stats: list[dict], runs: list[dict], path: pathlib.Path) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    panels = [
        ("score_std", "score standard deviation", True),
        ("entropy", "mean softmax entropy (nats)", False),
        ("saturated", "fraction of rows with max p > 0.99", False),
        ("grad_scores", "gradient norm w.r.t. scores", True),
        ("grad_q", "gradient norm w.r.t. q", True),
    ]
    for ax, (key, label, log_y) in zip(axes.flat, panels, strict=False):
        for scaled, color in ((True, "tab:blue"), (False, "tab:red")):
            rows = [r for r in stats if r["scaled"] == scaled]
            ax.plot(
                [r["head_dim"] for r in rows],
                [r[key] for r in rows],
                marker="o",
                color=color,
                label="1/sqrt(d_k)" if scaled else "no scale",
            )
        if key == "score_std":
            dims = np.array([r["head_dim"] for r in stats if r["scaled"]])
            ax.plot(dims, np.sqrt(dims), "k:", label="sqrt(d_k)")
        if key == "entropy":
            ax.axhline(stats[0]["max_entropy"], color="k", linestyle=":", label="log T")
        ax.set_xscale("log", base=2)
        if log_y:
            ax.set_yscale("log")
        ax.set(xlabel="d_k", ylabel=label)
        ax.legend()
    ax = axes.flat[5]
    for r in runs:
        ax.plot(r["train_steps"], r["train_losses"], label=f"{r['run']} (d_k={r['head_dim']})")
    ax.set(xlabel="step", ylabel="train loss (nats / token)", title="GPT-tiny, one wide head")
    if runs:
        ax.legend()
    fig.tight_layout()
    save(fig, path)


def main(config, workdir) -> dict:
    workdir = pathlib.Path(workdir)
    stats = statistics_rows(config)
    runs = train_runs(config, workdir) if config.lm.num_train_steps else []
    results = {"length": config.length, "statistics": stats, "runs": runs}
    if write_results(workdir, results, markdown(stats, runs, config.length)):
        plot(stats, runs, workdir / "attention_scale.png")
    return results


if __name__ == "__main__":
    entry.run(main)
