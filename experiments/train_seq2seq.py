"""Train an RNN encoder-decoder with attention to reverse digit strings; score it by greedy decoding.

  python -m experiments.train_seq2seq --config=experiments/configs/seq2seq/reverse.py \
      --workdir=runs/seq2seq

Training is teacher forcing (cross-entropy on the target tokens, padding weighted 0). Evaluation,
on held-out strings that never occur in training, adds `eval/exact_match`: the share of strings
whose greedy decode (`research.generate.decoding.decode` through the model's decoding protocol,
jitted with the loss) equals the target up to and including EOS. At the end, `attention.png` in the workdir shows
the attention of one held-out string (source positions x output positions).
"""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from experiments import entry
from experiments.figures import plt, save
from research import models
from research.data import digit_strings
from research.generate import decoding
from research.generate.sampling import TokenChooser
from research.tasks.arrays import array_task
from research.train import loop
from research.train.losses import classification_loss
from research.train.task import Task


def load_data(config) -> tuple[dict, dict]:
    """(train, held_out) arrays of the config's digit strings."""
    d = config.data
    load = lambda split, size: digit_strings.load_arrays(
        split, size, max_len=d.max_len, min_len=d.min_len, seed=config.seed
    )
    return load("train", d.num_train), load("held_out", d.num_eval)


def plot_attention(path, weights, source: str, output: str) -> None:
    """Saves attention weights [len(output), len(source)] as a heat map, source positions down
    and output positions across (EOS shows as '$'); a reversal is the anti-diagonal."""
    fig, ax = plt.subplots(figsize=(1 + 0.4 * len(output), 1 + 0.4 * len(source)))
    ax.imshow(np.asarray(weights).T, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(output)), [f"{t}:{c}" for t, c in enumerate(output)], rotation=90)
    ax.set_yticks(range(len(source)), [f"{s}:{c}" for s, c in enumerate(source)])
    ax.set_xlabel("output position (token)")
    ax.set_ylabel("source position (token)")
    ax.set_title("attention weights")
    fig.tight_layout()
    save(fig, path)


def build_task(config, workdir=None) -> Task:
    family = models.load(config.model_name)
    model = family.make(**config.model.to_dict())
    train, held_out = load_data(config)
    num_steps = train["target"].shape[1]

    def generate(p, s, n):  # greedy through the decoding protocol; PAD after EOS, as in targets
        return decoding.decode(
            model, p, s, num_tokens=num_steps, select=TokenChooser(0.0), rng=jax.random.key(0),
            eos_id=model.config.eos_id, fill_id=digit_strings.PAD,
            prompt_mask=jnp.arange(s.shape[1])[None, :] < n[:, None],
        )  # fmt: skip

    @jax.jit
    def decode(p, s, n):  # the generated tokens and the attention paid while generating them
        tokens = generate(p, s, n)
        inputs = family.teacher_forcing_inputs(tokens, model.config.bos_id)
        return tokens, model.apply({"params": p}, s, n, inputs, method="attention_weights")

    def loss_fn(params, model_state, batch, rng, train):
        source, lengths, target = batch["source"], batch["source_lengths"], batch["target"]
        rows = batch.get("weights", jnp.ones(target.shape[:1], jnp.float32))
        weights = (target != digit_strings.PAD) * rows[:, None]
        inputs = family.teacher_forcing_inputs(target, model.config.bos_id)
        logits = model.apply(
            {"params": params, **model_state}, source, lengths, inputs, train=train,
            rngs={"dropout": rng},
        )  # fmt: skip
        loss, metrics = classification_loss(logits, target, weights)
        if not train:
            tokens = generate(params, source, lengths)
            exact = jnp.all(tokens == target, axis=1)  # both are PAD after EOS
            metrics["exact_match"] = (jnp.sum(exact * rows), jnp.sum(rows))
        return loss, metrics, model_state

    def after_training(params, model_state) -> str:
        del model_state  # the model is stateless
        # The first held-out string of the longest length: the clearest picture.
        i = int(np.argmax(held_out["source_lengths"]))
        n = int(held_out["source_lengths"][i])
        tokens, weights = decode(
            params, held_out["source"][i : i + 1], held_out["source_lengths"][i : i + 1]
        )
        tokens, weights = np.asarray(tokens[0]), np.asarray(weights[0])
        source = digit_strings.decode(held_out["source"][i])
        output = digit_strings.decode(tokens)
        shown = output + "$"  # the EOS step too
        if workdir is not None and jax.process_index() == 0:
            path = pathlib.Path(workdir) / "attention.png"
            plot_attention(path, weights[: len(shown), :n], source, shown)
        target = digit_strings.decode(held_out["target"][i])
        return f"Held-out {source} -> {output} (target {target}); attention in attention.png"

    init_source = np.zeros((1, config.data.max_len), np.int32)
    return array_task(
        model, loss_fn, train, held_out, batch_size=config.data.batch_size, seed=config.seed,
        eval_batch_size=config.data.eval_batch_size, items_name="examples",
        init_inputs=(init_source, np.ones((1,), np.int32), np.zeros((1, num_steps), np.int32)),
        after_training=after_training,
    )  # fmt: skip


def main(config, workdir) -> loop.Result:
    return loop.train(config, workdir, build_task(config, workdir))


if __name__ == "__main__":
    entry.run(main)
