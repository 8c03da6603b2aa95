"""Pre-train tiny T5 with span corruption, then fine-tune it text-to-text to name a docstring's
package.

  python -m experiments.train_t5 --config=experiments/configs/t5/span_corruption.py \
      --workdir=runs/t5

Three stages of `experiments.stages` (each in its own sub-workdir, resumable; a finished stage is
restored, not retrained; a preempted one stops the experiment):
  pretrain/            span corruption (`research.train.span_corruption`: 15% noise, mean span 3,
                       the project's sentinel ids) on 128-byte windows of pydoc_topics; evaluated
                       on the validation split's windows, corrupted once with a fixed seed.
  finetune_pretrained/ "classify: <docstring>" -> the package name as text
                       (`research.data.text_to_text`, `research.tasks.docstring_packages`), every
                       weight from pretrain/.
  finetune_scratch/    the same, every weight fresh.
Fine-tuning is scored by `eval/exact_match`: the share of test docstrings whose greedy generation
(`research.generate.decoding.decode`, the model's own cached decoding) is exactly the package
name; a generated string that is no class name is wrong. Writes results.json, results.md and
t5_span_corruption.png into the workdir.

Text is UTF-8 bytes after the project's special ids (`research.tasks.byte_text`): no tokenizer to
train, and pad (0, also T5's decoder start), EOS and the sentinels mean the same in both stages.
Every corruption is drawn up front (`num_corruptions` per window, seeded), so the data iterator is
the loop's checkpointable array pipeline and a resumed run sees what an uninterrupted one sees.
"""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from experiments import entry, stages
from experiments.results import finetune_report
from research.data import pydoc_topics, text_to_text
from research.generate import decoding
from research.generate.sampling import TokenChooser
from research.models import t5
from research.tasks.arrays import array_task
from research.tasks.byte_text import byte_vocabulary, windows
from research.tasks.docstring_packages import DocstringPackages, docstring_packages
from research.text import special_tokens
from research.train import span_corruption
from research.train.task import Task
from research.train.warm_start import from_pretrained

GREEDY = TokenChooser(temperature=0.0)


def pretrain_arrays(config, vocab) -> tuple[dict, dict]:
    """(train, eval) span-corrupted windows: {'inputs' [N,S], 'targets' [N,T]}."""
    d = config.data
    sentinels = vocab.sentinel_ids()
    rng = np.random.default_rng(config.seed)
    train_windows = windows(vocab, pydoc_topics.load_texts("train", d.data_dir), d.window)
    parts = [
        span_corruption.corrupt_batch(train_windows, rng, sentinels, vocab.eos_id)
        for _ in range(d.num_corruptions)
    ]
    train = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    eval_windows = windows(
        vocab, pydoc_topics.load_texts("validation", d.data_dir), d.window, d.num_eval
    )
    held_out = span_corruption.corrupt_batch(
        eval_windows, np.random.default_rng(config.seed + 1), sentinels, vocab.eos_id
    )
    return train, held_out


def seq2seq_loss(model, vocab, *, exact_match: bool):
    """Cross-entropy on the targets (padding weighted 0, eval padding rows too); with
    `exact_match`, evaluation also greedily generates each target and scores whole strings."""

    def loss_fn(params, model_state, batch, rng, train):
        inputs, targets = batch["inputs"], batch["targets"]
        rows = batch.get("weights", jnp.ones(targets.shape[:1], jnp.float32))
        decoder_inputs = t5.shift_right(targets, vocab.pad_id)
        real = inputs != vocab.pad_id  # T5 takes its encoder padding as an explicit mask
        logits = model.apply(
            {"params": params}, inputs, decoder_inputs, mask=real, train=train,
            rngs={"dropout": rng},
        )  # fmt: skip
        loss, metrics = span_corruption.loss(logits, targets, vocab.pad_id, rows)
        if exact_match and not train:
            generated = decoding.decode(
                t5.Model(model.config), params, inputs, num_tokens=targets.shape[1],
                select=GREEDY, rng=rng, eos_id=vocab.eos_id, prompt_mask=real,
            )  # fmt: skip
            exact = text_to_text.exact_match(generated, targets, vocab.pad_id)
            metrics["exact_match"] = (jnp.sum(exact * rows), jnp.sum(rows))
        return loss, metrics, model_state

    return loss_fn


def render(vocab, ids) -> str:
    """Text of ids with sentinels shown as <X0>, <X1>, ... (up to the first EOS)."""
    out, data = [], []
    for token in np.asarray(ids).tolist():
        if token == vocab.eos_id:
            break
        if token in set(vocab.sentinel_ids().tolist()):
            sentinel = token - special_tokens.NUM_FIXED
            out.append(bytes(data).decode("utf-8", "replace") + f"<X{sentinel}>")
            data = []
        elif token >= vocab.offset:
            data.append(token - vocab.offset)
    return "".join(out) + bytes(data).decode("utf-8", "replace")


def text_to_text_task(model, vocab, train, held_out, section, *, exact_match, **fields) -> Task:
    """`array_task` over {'inputs' [N,S], 'targets' [N,T]} pairs, with `section`'s seed and
    data.{batch_size, eval_batch_size}; loss `seq2seq_loss`."""
    return array_task(
        model, seq2seq_loss(model, vocab, exact_match=exact_match), train, held_out,
        batch_size=section.data.batch_size, eval_batch_size=section.data.eval_batch_size,
        seed=section.seed, items_per_example=train["inputs"].shape[1] + train["targets"].shape[1],
        items_name="tokens", **fields,
    )  # fmt: skip


def pretrain_task(config) -> Task:
    vocab = byte_vocabulary(config)
    train, held_out = pretrain_arrays(config, vocab)
    model = t5.make(**config.model.to_dict())

    def after_training(params, model_state) -> str:
        del model_state  # stateless
        inputs = held_out["inputs"][:1]
        generated = decoding.decode(
            model, params, inputs, num_tokens=held_out["targets"].shape[1],
            select=GREEDY, rng=jax.random.key(0), eos_id=vocab.eos_id,
            prompt_mask=inputs != vocab.pad_id,
        )  # fmt: skip
        return (
            f"Span corruption, held-out window:\n  input:     {render(vocab, inputs[0])}\n"
            f"  target:    {render(vocab, held_out['targets'][0])}\n"
            f"  generated: {render(vocab, generated[0])}"
        )

    return text_to_text_task(
        model, vocab, train, held_out, config, exact_match=False, after_training=after_training
    )


def finetune_task(config, docs: DocstringPackages, pretrained=None) -> Task:
    """ "classify: <docstring>" -> package name on `docs`; `pretrained`: params to start from
    (every weight, on the fresh init's shards), None: from scratch."""
    vocab = byte_vocabulary(config)
    data = config.finetune.data
    pairs = [
        text_to_text.classification_arrays(
            vocab,
            texts,
            labels,
            docs.classes,
            max_input_len=data.max_input_len,
            max_target_len=data.max_target_len,
        )  # fmt: skip
        for texts, labels in (docs.train, docs.held_out)
    ]
    train, held_out = ({"inputs": p["inputs"], "targets": p["targets"]} for p in pairs)
    return text_to_text_task(
        t5.make(**config.model.to_dict()), vocab, train, held_out, config.finetune,
        exact_match=True, warm_start=None if pretrained is None else from_pretrained(pretrained),
    )  # fmt: skip


def main(config, workdir) -> dict:
    workdir = pathlib.Path(workdir)
    pre = stages.run("pretrain", config, workdir, pretrain_task(config))
    docs = docstring_packages(config.finetune)
    fine = stages.finetune_from(
        pre, config.finetune, workdir, lambda params: finetune_task(config, docs, params)
    )
    return finetune_report(
        workdir, pre, fine, docs.classes, pretrain="span-corruption pre-training",
        rows={"eval_loss": ("eval/loss", "eval loss (nats / target byte)"),
              "eval_accuracy": ("eval/accuracy", "eval accuracy of target bytes")},
        metric=("exact_match", "test exact match"),
        figure=("t5_span_corruption.png", "nats per target byte", "eval (fixed corruption)",
                "Package name, generated as text"),
    )  # fmt: skip


if __name__ == "__main__":
    entry.run(main)
