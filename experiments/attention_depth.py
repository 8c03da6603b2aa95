"""Post-LN against pre-LN as depth grows, with and without learning-rate warmup and gradient
clipping: which runs diverge, final losses, gradient norms by layer (Xiong et al. 2020, "On Layer
Normalization in the Transformer Architecture").

  python -m experiments.attention_depth --config=experiments/configs/attention/depth.py \
      --workdir=runs/attention_depth

The grid is {pre, post} (`research/models/transformer_lm.py`'s `norm_placement`) x `depths`
(`num_layers`) x {warmup+clip, neither}: the first optimizer setting is the project's AdamW
(`research/train/optimizer.py`) with `optimizer.warmup_steps` of linear warmup and the global
gradient norm clipped to `optimizer.grad_clip_norm`; 'neither' is the same optimizer with both
set to 0 (full learning rate from step 1, no clip). Every run starts from the same seed (pre- and
post-LN models of one depth have the same parameter tree and the same initial values: only the
placement of the LayerNorms differs) and sees the same batches of the embedded corpus
(`pydoc_topics`, bytes).

Recorded per run: the training loss at step 1 and at the end (mean of the last tenth of the
steps), the first non-finite step, whether the run diverged (a non-finite loss, or a final loss
above the first), the largest global gradient norm seen (before clipping), the validation loss
after training, and the gradient norm of each block's parameters on one validation batch at
initialization and after training, with the root-mean-square of the last block's output (the
residual stream before `ln_f`) at initialization: post-LN ends every block with a LayerNorm
whose scale is 1 and bias 0 at init, so that value is sqrt(var / (var + eps)), 1 to 1e-4, at
every depth; pre-LN's residual stream is whatever the embedding and the branches add up to.

Training runs in one jitted `lax.scan` per model rather than the project's loop: short runs
compared from one initialization need no checkpoints, evaluation hooks or resume. Both optimizer
settings of a model run in one program (`jax.vmap` over the warmup length and the clip norm, see
`adamw`), so each model compiles once: compilation, not training, dominates on a CPU. Writes
results.json, results.md (the table, also logged), grad_norms.png (gradient norm by layer, log
scale) and losses.png (final loss by depth; the deepest runs' loss curves) to the workdir.
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
from research.data import lm_pipeline, pydoc_topics
from research.models import transformer_lm
from research.train.losses import classification_loss
from research.train.optimizer import decay_mask

PLACEMENTS = ("pre", "post")
SETTINGS = ("warmup+clip", "neither")
CONTEXT_MARGIN = 0.05  # nats below the unigram loss that count as using the context


def parse_list(name: str, text: str, kind=str) -> list:
    """'4,8,16' -> [4, 8, 16]; a ValueError naming the config key when an entry is bad."""
    try:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise ValueError(f"--config.{name}={text!r} must be a comma-separated list, e.g. '4,8'.")
    return values


def setting_hyperparameters(config) -> tuple[np.ndarray, np.ndarray]:
    """(warmup_steps, grad_clip_norm), each [len(SETTINGS)]: the config's for 'warmup+clip', 0 and
    0 (no warmup, no clip) for 'neither'."""
    opt = config.optimizer
    return np.array([opt.warmup_steps, 0], np.int32), np.array([opt.grad_clip_norm, 0], np.float32)


def adamw(optimizer, warmup_steps, grad_clip_norm) -> optax.GradientTransformation:
    """The project's optimizer (`research.train.optimizer.make_optimizer` with name 'adamw' and
    decay 'constant': linear warmup from 0, the global-norm clip, AdamW with its weight-decay mask)
    with `warmup_steps` and `grad_clip_norm` as arrays that may be traced, so that both settings of
    one model train in one vmapped program, compiled once instead of twice. As in the project's
    section, 0 warmup steps start at the full rate and a clip norm <= 0 disables the clip."""
    peak = optimizer.learning_rate

    def schedule(count):
        ramp = jnp.minimum(count / jnp.maximum(warmup_steps, 1), 1.0)
        return peak * jnp.where(warmup_steps > 0, ramp, 1.0)

    clip = jnp.where(grad_clip_norm > 0, grad_clip_norm, jnp.inf)  # inf: every norm passes
    update = optax.adamw(
        schedule,
        b1=optimizer.b1,
        b2=optimizer.b2,
        eps=optimizer.eps,
        weight_decay=optimizer.weight_decay,
        mask=decay_mask,
    )
    return optax.chain(optax.clip_by_global_norm(clip), update)


def make_model(config, placement: str, depth: int) -> transformer_lm.Model:
    return transformer_lm.make(
        None,
        max_len=config.seq_len,
        num_layers=depth,
        embed_dim=config.embed_dim,
        num_heads=config.num_heads,
        mlp_dim=config.mlp_dim,
        norm_placement=placement,
    )


def init_params(model: transformer_lm.Model, seed: int):
    tokens = jnp.zeros((1, model.config.max_len), jnp.int32)
    return nn.unbox(model.init(jax.random.key(seed), tokens)["params"])


def forward_loss(model, params, inputs, targets):
    """Mean next-token cross-entropy (nats per byte) and the root-mean-square of the last block's
    output (the residual stream before `ln_f`, read through Flax's captured intermediates).
    Shapes: inputs, targets int32 [B,T] -> (scalar, scalar)."""
    logits, state = model.apply(
        {"params": params}, inputs, capture_intermediates=True, mutable=["intermediates"]
    )
    last = state["intermediates"][f"block_{model.config.num_layers - 1}"]["__call__"][0]
    return classification_loss(logits, targets)[0], jnp.sqrt(jnp.mean(jnp.square(last)))


def layer_norms(grads, depth: int) -> jax.Array:
    """Global norm of each block's gradient. Shapes: -> [depth]."""
    return jnp.stack([optax.tree.norm(grads[f"block_{i}"]) for i in range(depth)])


def train(model, params, optimizer, inputs, targets, warmup_steps, grad_clip_norm) -> dict:
    """Trains one initialization under each optimizer setting in one jitted, vmapped `lax.scan`
    over the stacked batches, measuring every step on the parameters before its update.

    Shapes: inputs, targets [S,B,T]; warmup_steps, grad_clip_norm [R] (see `adamw`) ->
    {'loss': [R,S], 'grad_norm': [R,S] (global, before clipping), 'layer_grad_norms': [R,S,L]
    (each block's), 'output_rms': [R,S]}; step 0 is the initialization.
    """
    depth = model.config.num_layers
    loss_fn = lambda p, x, y: forward_loss(model, p, x, y)

    def run(params, xs, warmup, clip):
        tx = adamw(optimizer, warmup, clip)

        def step(state, batch):
            params, opt_state = state
            (loss, rms), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, *batch)
            updates, opt_state = tx.update(grads, opt_state, params)
            measured = {
                "loss": loss,
                "grad_norm": optax.tree.norm(grads),
                "layer_grad_norms": layer_norms(grads, depth),
                "output_rms": rms,
            }
            return (optax.apply_updates(params, updates), opt_state), measured

        return jax.lax.scan(step, (params, tx.init(params)), xs)[1]

    runs = jax.jit(jax.vmap(run, in_axes=(None, None, 0, 0)))
    measured = runs(params, (inputs, targets), warmup_steps, grad_clip_norm)
    return {k: np.asarray(v, np.float64) for k, v in measured.items()}


def unigram_loss(tokens) -> float:
    """Entropy (nats) of the token frequencies of `tokens` [L]: the loss of the best model that
    ignores the context, where a run that learned only byte frequencies plateaus."""
    counts = np.bincount(np.asarray(tokens).ravel())
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * np.log(p)))


def load_batches(config):
    """The training batches of every run, stacked: inputs, targets int32 [S,B,T]; and the
    unigram loss of the training split."""
    tokens = pydoc_topics.load_tokens("train", config.data_dir)
    it = lm_pipeline.train_iterator(
        tokens,
        seq_len=config.seq_len,
        global_batch_size=config.batch_size,
        seed=config.seed,
        vocab_size=transformer_lm.Config.vocab_size,
    )
    batches = [next(it) for _ in range(config.num_train_steps)]
    inputs = np.stack([b["inputs"] for b in batches])
    return inputs, np.stack([b["targets"] for b in batches]), unigram_loss(tokens)


def summarize(measured: dict, unigram: float) -> dict:
    """A run's row from `train`'s measurements: losses, divergence, whether the final loss is
    below the unigram loss by more than `CONTEXT_MARGIN` (the model uses the context), gradient
    norms by layer at initialization (step 1) and at the end (mean over the last tenth of the
    steps)."""
    losses, norms = measured["loss"], measured["grad_norm"]
    tail = max(1, len(losses) // 10)
    bad = ~(np.isfinite(losses) & np.isfinite(norms))
    final = float(np.mean(losses[-tail:]))
    first = float(losses[0])
    return {
        "loss_first": first,
        "loss_final": final,
        "first_nonfinite_step": int(np.argmax(bad)) + 1 if bad.any() else None,
        "diverged": bool(bad.any() or not np.isfinite(final) or final > first),
        "beats_unigram": bool(final < unigram - CONTEXT_MARGIN),
        "grad_norm_max": float(np.max(norms[np.isfinite(norms)], initial=0.0)),
        "output_rms_init": float(measured["output_rms"][0]),
        "grad_norms_init": measured["layer_grad_norms"][0].tolist(),
        "grad_norms_trained": np.mean(measured["layer_grad_norms"][-tail:], axis=0).tolist(),
    }


def markdown(rows: list[dict], unigram: float) -> str:
    lines = [
        "| LN | layers | warmup + clip | loss step 1 | final loss | below unigram | diverged | "
        "max grad norm | grad norm block 0 / last, init | block 0 / last, end | "
        "last block output RMS at init |",
        "|---|---:|---|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        nonfinite = r["first_nonfinite_step"]
        diverged = (
            ("yes" + (f" (NaN at {nonfinite})" if nonfinite else "")) if r["diverged"] else "no"
        )
        g, h = r["grad_norms_init"], r["grad_norms_trained"]
        lines.append(
            f"| {r['placement']} | {r['depth']} | {'yes' if r['setting'] == SETTINGS[0] else 'no'} "
            f"| {r['loss_first']:.3f} | {r['loss_final']:.3f} | "
            f"{'yes' if r['beats_unigram'] else 'no'} | {diverged} | "
            f"{r['grad_norm_max']:.3g} | {g[0]:.3g} / {g[-1]:.3g} | {h[0]:.3g} / {h[-1]:.3g} | "
            f"{r['output_rms_init']:.4f} |"
        )
    lines.append(
        f"\nLosses in nats per byte; unigram loss (byte frequencies, no context) {unigram:.3f}; "
        f"'below unigram': final loss under it by more than {CONTEXT_MARGIN}."
    )
    return "\n".join(lines) + "\n"


def plot_grad_norms(rows: list[dict], path: pathlib.Path) -> None:
    """Gradient norm by layer: at init (one line per placement and depth; the same for both
    optimizer settings), and after training for each setting."""
    depths = sorted({r["depth"] for r in rows})
    colors = {d: f"C{i}" for i, d in enumerate(depths)}
    styles = {"pre": "-", "post": "--"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
    panels = [("grad_norms_init", SETTINGS[0], "at initialization")]
    panels += [("grad_norms_trained", s, f"end of training, {s}") for s in SETTINGS]
    for ax, (key, setting, title) in zip(axes, panels, strict=True):
        for r in rows:
            if r["setting"] != setting:
                continue
            norms = np.asarray(r[key], np.float64)
            shown = np.isfinite(norms) & (norms > 0)
            layers = np.arange(norms.size)
            ax.semilogy(
                layers[shown],
                norms[shown],
                color=colors[r["depth"]],
                linestyle=styles[r["placement"]],
                marker=".",
                label=f"{r['placement']}-LN, {r['depth']} layers",
            )
        ax.set(xlabel="block index (0 = next to the embedding)", title=title)
    axes[0].set_ylabel("||d loss / d block params||")
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle("Gradient norm of each block's parameters (solid: pre-LN, dashed: post-LN)")
    fig.tight_layout()
    save(fig, path, dpi=110)


def plot_losses(rows: list[dict], curves: dict, unigram: float, path: pathlib.Path) -> None:
    """Final training loss by depth (x: diverged), and the loss curves of the deepest runs; the
    dotted line is the unigram loss."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    deepest = max(r["depth"] for r in rows)
    for i, (placement, setting) in enumerate((p, s) for p in PLACEMENTS for s in SETTINGS):
        sel = [r for r in rows if r["placement"] == placement and r["setting"] == setting]
        label = f"{placement}-LN, {setting}"
        depth = [r["depth"] for r in sel]
        final = [r["loss_final"] if np.isfinite(r["loss_final"]) else np.nan for r in sel]
        left.plot(depth, final, marker="o", color=f"C{i}", label=label)
        for r in sel:
            if r["diverged"]:
                shown = r["loss_final"] if np.isfinite(r["loss_final"]) else r["loss_first"]
                left.plot(r["depth"], shown, marker="x", markersize=12, color=f"C{i}")
        losses = curves[(placement, deepest, setting)]
        steps = np.arange(1, losses.size + 1)
        finite = np.isfinite(losses)
        right.plot(steps[finite], losses[finite], color=f"C{i}", label=label)
    for ax in (left, right):
        ax.axhline(unigram, color="gray", linestyle=":", linewidth=1, label="unigram loss")
    left.set(xlabel="layers", ylabel="final training loss (nats/byte)", xscale="log", xticks=[])
    ticks = sorted({r["depth"] for r in rows})
    left.set_xticks(ticks, [str(t) for t in ticks])
    left.xaxis.set_minor_locator(plt.NullLocator())
    left.set_title("Final loss (x: diverged)")
    left.legend(fontsize=8)
    right.set(xlabel="step", ylabel="training loss (non-finite not drawn)")
    right.set_title(f"Training loss, {deepest} layers")
    right.legend(fontsize=8)
    fig.tight_layout()
    save(fig, path, dpi=110)


def main(config, workdir) -> dict:
    depths = parse_list("depths", config.depths, int)
    if min(depths) < 1:
        raise ValueError(f"--config.depths={config.depths!r} must hold positive layer counts.")
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    inputs, targets, unigram = load_batches(config)

    warmup_steps, grad_clip_norm = setting_hyperparameters(config)
    rows, curves = [], {}
    for depth in depths:
        for placement in PLACEMENTS:
            model = make_model(config, placement, depth)
            params = init_params(model, config.seed)
            run_start = time.perf_counter()
            measured = train(
                model, params, config.optimizer, inputs, targets, warmup_steps, grad_clip_norm
            )
            seconds = time.perf_counter() - run_start
            for i, setting in enumerate(SETTINGS):
                one = {k: v[i] for k, v in measured.items()}
                row = {"placement": placement, "depth": depth, "setting": setting}
                row.update(summarize(one, unigram), seconds=seconds)
                rows.append(row)
                curves[(placement, depth, setting)] = one["loss"]
                logging.info(
                    "%s-LN, %d layers, %s: loss %.3f -> %.3f, diverged %s",
                    placement, depth, setting, row["loss_first"], row["loss_final"],
                    row["diverged"],
                )  # fmt: skip
            logging.info("%s-LN, %d layers: %.1f s for both settings", placement, depth, seconds)

    results = {
        "depths": depths,
        "learning_rate": config.optimizer.learning_rate,
        "unigram_loss": unigram,
        "num_train_steps": config.num_train_steps,
        "rows": rows,
        "loss_curves": {f"{p}/{d}/{s}": c.tolist() for (p, d, s), c in curves.items()},
        "seconds": time.perf_counter() - start,
    }
    table = markdown(rows, unigram)
    if write_results(workdir, results, table, title="Post-LN against pre-LN by depth"):
        plot_grad_norms(rows, workdir / "grad_norms.png")
        plot_losses(rows, curves, unigram, workdir / "losses.png")
    return results


if __name__ == "__main__":
    entry.run(main)
