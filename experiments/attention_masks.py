"""What attention's masks prevent, measured: the padding mask and the causal mask.

  python -m experiments.attention_masks --config=experiments/configs/attention/masks.py \
      --workdir=runs/attention_masks

Causal mask. GPT-tiny (the config's `lm` section: model, data, optimizer) trains twice as stages
(`experiments.stages`: <workdir>/causal and <workdir>/non_causal, resumable; a preempted run stops
the experiment) from one initialization (the loop's, from lm.seed) on the same batches: with the
causal mask (the GPT) and without it (every position attends to the whole window, the next token
included): `research.models.transformer_lm.Model` with its `causal` switch off (the same blocks and
parameter tree). Without the mask the
training loss collapses towards 0: the answer at position t is the input at t + 1, one
attention hop away. Measured for both: the training curve, the validation loss as trained (the
non-causal one still reads the future: the "cheating" loss), the validation loss when the future
is not there (`prefix_losses`: position t predicted from tokens 0..t only, as generation sees it),
and a greedy continuation of a prompt (`greedy_generate`, recomputing the whole prefix each step).

Padding mask. A batch of rows of different lengths, padded, through (a) the causally trained GPT
with left padding (a batch of prompts) and (b) a bidirectional encoder block
(`research.nn.transformer_block.TransformerBlock`, causal=False) with right padding: the pad
positions are filled once with zeros and once with random content, and the largest change of the
real positions' outputs is reported, with the padding mask (exactly 0: masked keys get
probability exactly 0) and without it (the real positions attend to the pads).

Writes results.json, results.md and attention_masks.png (training curves; the padding changes) to
the workdir.
"""

import functools
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from experiments import entry, stages
from experiments.figures import plt, save
from experiments.results import write_results
from research.data import lm_pipeline
from research.models import transformer_lm
from research.nn.transformer_block import TransformerBlock
from research.tasks.lm import lm_loss, load_split_texts, window_iterator
from research.text import tokenizers
from research.train.losses import softmax_cross_entropy
from research.train.metrics import metric_curve
from research.train.task import Task


@functools.cache
def jitted_apply(model: transformer_lm.Model):
    """`(params, tokens [B,T], mask bool [B,T]) -> logits [B,T,V]`, jitted once per model (every
    evaluation below calls it with one batch shape, so each model compiles once)."""
    return jax.jit(lambda params, tokens, mask: model.apply({"params": params}, tokens, mask=mask))


def mean_loss(model, params, batches) -> float:
    """Mean next-token cross-entropy (nats per token) over weighted eval batches."""
    apply = jitted_apply(model)
    total = count = 0.0
    for batch in batches:
        inputs = jnp.asarray(batch["inputs"])
        logits = apply(params, inputs, jnp.ones(inputs.shape, bool))
        loss, weight = softmax_cross_entropy(logits, batch["targets"], batch["weights"])
        total, count = total + float(loss), count + float(weight)
    return total / count


def prefix_logits(model, params, tokens):
    """Logits at each position t computed from tokens[:, :t+1] alone (what generation sees).

    Shapes: tokens int32 [B,T] -> [B,T,V]. One forward pass per position, the later tokens
    hidden by the padding mask; for a causal model this equals one ordinary forward pass.
    """
    apply = jitted_apply(model)
    tokens = jnp.asarray(tokens)
    positions = jnp.arange(tokens.shape[1])
    return jnp.stack(
        [
            apply(params, tokens, jnp.broadcast_to(positions <= t, tokens.shape))[:, t]
            for t in range(tokens.shape[1])
        ],
        axis=1,
    )


def prefix_loss(model, params, batch) -> float:
    """Mean cross-entropy of `prefix_logits` on one weighted batch (nats per token)."""
    logits = prefix_logits(model, params, batch["inputs"])
    loss, weight = softmax_cross_entropy(logits, batch["targets"], batch["weights"])
    return float(loss / weight)


def greedy_generate(model, params, prompt, num_tokens: int, *, buffer_shape=None):
    """Greedy continuation of `prompt` (int [P]) by `num_tokens`, each step a full forward pass
    over the prefix (no cache: the non-causal model has none), in one fixed-shape buffer whose
    unwritten slots the padding mask hides. Returns int32 [P + num_tokens].

    buffer_shape: (rows, length) of the buffer, every row holding the same sequence; pass the
    evaluation batch's shape to reuse its compiled forward pass. Default (1, P + num_tokens).
    """
    prompt = np.asarray(prompt, np.int32)
    size = prompt.shape[0] + num_tokens
    rows, length = buffer_shape or (1, size)
    if size > min(model.config.max_len, length):
        raise ValueError(
            f"prompt + num_tokens = {size} exceeds max_len={model.config.max_len} or the buffer "
            f"length {length}; generate fewer tokens."
        )
    apply = jitted_apply(model)
    buffer = np.zeros((rows, length), np.int32)
    buffer[:, : prompt.shape[0]] = prompt
    for n in range(prompt.shape[0], size):
        visible = np.broadcast_to(np.arange(length) < n, buffer.shape)
        logits = apply(params, jnp.asarray(buffer), jnp.asarray(visible))[0, n - 1]
        buffer[:, n] = int(jnp.argmax(logits))
    return buffer[0, :size]


def causal_task(lm, train_tokens, causal: bool) -> Task:
    """GPT-tiny (`lm.model`) with or without its causal mask, next-token loss on lm_pipeline's
    windows of `train_tokens` (int [L]); no evaluation by the loop (see `causal_experiment`)."""
    model = transformer_lm.Model(transformer_lm.Config(**lm.model.to_dict()), causal=causal)
    train_iterator = window_iterator(
        train_tokens, lm.data, seed=lm.seed, vocab_size=lm.model.vocab_size
    )
    return Task(
        model=model,
        init_inputs=(np.zeros((1, lm.data.seq_len), np.int32),),
        loss_fn=lm_loss(model),
        train_iterator=train_iterator,
        eval_batches=None,
        items_per_example=lm.data.seq_len,
        items_name="tokens",
    )


def padding_change(apply, tokens_or_x, real, pad_fill) -> float:
    """Largest |change| of the outputs at real positions when the pad content changes.

    Shapes: tokens_or_x [B,T,...] (the input with pads filled one way), real bool [B,T],
    pad_fill [B,T,...] (other pad content) -> a float; `apply(x)` -> [B,T,...].
    """
    real_x = real.reshape(real.shape + (1,) * (tokens_or_x.ndim - 2))
    other = jnp.where(real_x, tokens_or_x, pad_fill)
    change = jnp.abs(apply(other) - apply(tokens_or_x))
    change = jnp.where(real.reshape(real.shape + (1,) * (change.ndim - 2)), change, 0.0)
    return float(jnp.max(change))


def padding_experiment(config, gpt: transformer_lm.Model, gpt_params, eval_tokens) -> dict:
    """Max change of real positions' outputs when pad content changes, with and without mask.

    Rows: lm.data.batch_size windows of lm.data.seq_len validation tokens (the evaluation shape,
    so the GPT's compiled forward pass is reused), row r padded by pad_lengths[r % len]; the
    unmasked runs pass an all-True mask (the same program, the pads visible).
    """
    batch, length = config.lm.data.batch_size, config.lm.data.seq_len
    pad_lengths = np.resize(np.asarray(config.padding.pad_lengths), batch)
    if pad_lengths.max() >= length:
        raise ValueError(
            f"padding.pad_lengths {tuple(config.padding.pad_lengths)} must be shorter than "
            f"seq_len={length}; every row needs a real token."
        )
    rng = np.random.default_rng(config.seed)
    everything = jnp.ones((batch, length), bool)
    results = {"pad_lengths": pad_lengths.tolist(), "seq_len": length}

    # The GPT, left padding (a batch of prompts of different lengths).
    real = jnp.asarray(np.arange(length)[None] >= pad_lengths[:, None])
    starts = rng.integers(0, len(eval_tokens) - length, batch)
    tokens = np.stack([eval_tokens[s : s + length] for s in starts]).astype(np.int32)
    tokens = jnp.asarray(np.where(real, tokens, 0))  # pads filled with token 0 ...
    other = jnp.asarray(
        rng.integers(0, gpt.config.vocab_size, tokens.shape), jnp.int32
    )  # ... or not
    apply = jitted_apply(gpt)
    for masked in (True, False):
        mask = real if masked else everything
        change = padding_change(lambda x, m=mask: apply(gpt_params, x, m), tokens, real, other)
        results[f"gpt_{'masked' if masked else 'unmasked'}"] = change
    results["gpt_logit_scale"] = float(jnp.max(jnp.abs(apply(gpt_params, tokens, real))))

    # A bidirectional encoder block (BERT's post-LN block) on random vectors, right padding.
    cfg = gpt.config
    block = TransformerBlock(
        num_heads=cfg.num_heads, head_dim=cfg.head_dim, mlp_dim=cfg.mlp_dim, norm_placement="post"
    )
    k_x, k_pad, k_init = jax.random.split(jax.random.key(config.seed), 3)
    right = jnp.asarray(np.arange(length)[None] < length - pad_lengths[:, None])
    x = jnp.where(right[..., None], jax.random.normal(k_x, (batch, length, cfg.embed_dim)), 0.0)
    x_pad = 3.0 * jax.random.normal(k_pad, x.shape)
    block_params = block.init(k_init, x)
    block_apply = jax.jit(lambda v, m: block.apply(block_params, v, mask=m[:, None, None, :]))
    for masked in (True, False):
        mask = right if masked else everything
        change = padding_change(lambda v, m=mask: block_apply(v, m), x, right, x_pad)
        results[f"encoder_{'masked' if masked else 'unmasked'}"] = change
    results["encoder_output_scale"] = float(jnp.max(jnp.abs(block_apply(x, right))))
    return results


def causal_experiment(config, workdir, tokenizer, texts) -> tuple[dict, dict, dict]:
    """Trains the GPT with and without the causal mask; returns (rows by name, curves, params)."""
    lm = config.lm
    model_cfg = transformer_lm.Config(**lm.model.to_dict())
    train_tokens = tokenizer.encode_documents(texts[lm.data.train_split])
    eval_tokens = tokenizer.encode_documents(texts[lm.data.eval_split])
    eval_batches = lm_pipeline.eval_batches(
        eval_tokens[: config.eval_tokens + 1],
        seq_len=lm.data.seq_len,
        batch_size=lm.data.batch_size,
        vocab_size=model_cfg.vocab_size,
    )
    shape = (lm.data.batch_size, lm.data.seq_len)
    prompt = tokenizer.encode(config.prompt)
    causal_model = transformer_lm.Model(model_cfg, causal=True)
    devices = jax.devices()[: config.num_devices or None]
    rows, curves, trained = {}, {}, {}
    for name, causal in (("causal", True), ("non_causal", False)):
        start = time.perf_counter()
        task = causal_task(lm, train_tokens, causal)
        result = stages.run(name, lm, workdir, task, devices=devices)
        model, params = task.model, result.params
        losses = np.asarray(metric_curve(result.workdir, "train/loss")[1])
        step_seconds = metric_curve(result.workdir, "train/seconds_per_step")[1]
        generated = greedy_generate(
            model, params, prompt, config.generate_tokens, buffer_shape=shape
        )
        as_trained = mean_loss(model, params, eval_batches)
        rows[name] = {
            "causal": causal,
            "final_train_loss": float(np.mean(losses[-config.average_last :])),
            "eval_loss_as_trained": as_trained,
            "eval_loss_causal_mask": (
                as_trained if causal else mean_loss(causal_model, params, eval_batches)
            ),
            # The first evaluation batch, each position predicted from its prefix alone.
            "eval_loss_prefix": prefix_loss(model, params, eval_batches[0]),
            "sample": tokenizer.decode(np.asarray(generated)),
            "seconds_per_step": float(np.median(step_seconds[1:] or step_seconds)),
            "wall_seconds": time.perf_counter() - start,
        }
        curves[name] = losses.tolist()
        trained[name] = params
        logging.info("%s: %s", name, rows[name])
    return rows, curves, trained


def markdown(results: dict) -> str:
    lines = [
        "| GPT trained | final train loss | val loss as trained | val loss, prefix only "
        "| val loss, causal mask | ms / step |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["causal"].items():
        lines.append(
            f"| {name} | {r['final_train_loss']:.4f} | {r['eval_loss_as_trained']:.4f} | "
            f"{r['eval_loss_prefix']:.4f} | {r['eval_loss_causal_mask']:.4f} | "
            f"{1000 * r['seconds_per_step']:.0f} |"
        )
    lines.append("")
    for name, r in results["causal"].items():
        lines.append(f"Greedy sample, {name}: `{r['sample']!r}`")
        lines.append("")
    p = results["padding"]
    lines += [
        f"Padding (pad lengths {p['pad_lengths']} of {p['seq_len']}): largest change of a real "
        "position's output when the pad content changes.",
        "",
        "| model | with padding mask | without | output scale (max abs) |",
        "|---|---:|---:|---:|",
        f"| GPT (causal-trained), left padding, logits | {p['gpt_masked']:.3g} | "
        f"{p['gpt_unmasked']:.3g} | {p['gpt_logit_scale']:.3g} |",
        f"| encoder block (bidirectional), right padding | {p['encoder_masked']:.3g} | "
        f"{p['encoder_unmasked']:.3g} | {p['encoder_output_scale']:.3g} |",
    ]
    return "\n".join(lines) + "\n"


def plot(results: dict, curves: dict, path: pathlib.Path, average: int) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, losses in curves.items():
        losses = np.asarray(losses)
        window = max(1, min(average, len(losses)))
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        (line,) = left.plot(np.arange(window, len(losses) + 1), smooth, label=f"{name}: train")
        r = results["causal"][name]
        left.axhline(r["eval_loss_prefix"], color=line.get_color(), linestyle="--",
                     label=f"{name}: val, prefix only")  # fmt: skip
    left.set(
        xlabel="step", ylabel="loss (nats / token)", title="GPT-tiny with / without causal mask"
    )
    left.legend()
    p = results["padding"]
    names = ["GPT logits\n(left pad)", "encoder block\n(right pad)"]
    x = np.arange(2)
    floor = 1e-12  # a log axis cannot show the exact zeros of the masked runs
    masked = [max(p["gpt_masked"], floor), max(p["encoder_masked"], floor)]
    unmasked = [p["gpt_unmasked"], p["encoder_unmasked"]]
    right.bar(x - 0.2, masked, 0.4, label="with padding mask (0 shown at 1e-12)")
    right.bar(x + 0.2, unmasked, 0.4, label="without")
    right.set_yscale("log")
    right.set_xticks(x, names)
    right.set(ylabel="max |change| at real positions", title="Changing the pad content")
    right.legend()
    fig.tight_layout()
    save(fig, path)


def main(config, workdir) -> dict:
    workdir = pathlib.Path(workdir)
    texts = load_split_texts(config.lm.data)
    tokenizer = tokenizers.train("bytes", texts[config.lm.data.train_split], 0, 0, {})
    rows, curves, trained = causal_experiment(config, workdir, tokenizer, texts)
    gpt = transformer_lm.Model(transformer_lm.Config(**config.lm.model.to_dict()), causal=True)
    eval_tokens = tokenizer.encode_documents(texts[config.lm.data.eval_split])
    padding = padding_experiment(config, gpt, trained["causal"], eval_tokens)
    results = {"causal": rows, "padding": padding, "train_losses": curves}
    if write_results(workdir, results, markdown(results)):
        plot(results, curves, workdir / "attention_masks.png", config.average_last)
    return results


if __name__ == "__main__":
    entry.run(main)
