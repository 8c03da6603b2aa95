"""Pre-train tiny T5 with span corruption, then fine-tune it text-to-text to name a docstring's
package.

  python -m experiments.train_t5 --config=experiments/configs/t5/span_corruption.py \
      --workdir=runs/t5

Three runs of the one training loop, each in its own sub-workdir (each resumes; a finished stage
is restored, not retrained):
  pretrain/            span corruption (`research.train.span_corruption`: 15% noise, mean span 3,
                       the project's sentinel ids) on 128-byte windows of pydoc_topics; evaluated
                       on the validation split's windows, corrupted once with a fixed seed.
  finetune_pretrained/ "classify: <docstring>" -> the package name as text
                       (`research.data.text_to_text`), every weight from pretrain/.
  finetune_scratch/    the same, every weight fresh.
Fine-tuning is scored by `eval/exact_match`: the share of test docstrings whose greedy generation
(`research.generate.decoding.decode`, the model's own cached decoding) is exactly the package
name; a generated string that is no class name is wrong. Writes results.json, results.md and
t5_span_corruption.png into the workdir.

Text is UTF-8 bytes after the project's special ids (`text_to_text.ByteVocabulary`): no tokenizer
to train, and pad (0, also T5's decoder start), EOS and the sentinels mean the same in both stages.
Every corruption is drawn up front (`num_corruptions` per window, seeded), so the data iterator is
the loop's checkpointable array pipeline and a resumed run sees what an uninterrupted one sees.
"""

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from absl import logging

from experiments import entry
from experiments.results import write_results
from research.data import array_pipeline, pydoc_topics, stdlib_docstrings, text_to_text
from research.generate import decoding
from research.generate.sampling import TokenChooser
from research.models import t5
from research.tasks.label_selection import select_classes
from research.text import special_tokens
from research.train import loop, span_corruption
from research.train.metrics import last_record_with, metric_curve
from research.train.task import Task
from research.train.warm_start import from_pretrained

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

GREEDY = TokenChooser(temperature=0.0)


def vocabulary(config) -> text_to_text.ByteVocabulary:
    vocab = text_to_text.ByteVocabulary(num_sentinels=config.data.num_sentinels)
    if vocab.vocab_size > config.model.vocab_size:
        raise ValueError(
            f"The byte vocabulary needs {vocab.vocab_size} ids but the model has vocab_size="
            f"{config.model.vocab_size}; raise --config.model.vocab_size."
        )
    return vocab


def windows(vocab, texts, length: int, limit: int | None = None) -> np.ndarray:
    """The texts as one byte stream (each document + EOS) cut into [N, length] windows."""
    stream = np.concatenate([np.append(vocab.encode(t), vocab.eos_id) for t in texts])
    n = len(stream) // length if limit is None else min(limit, len(stream) // length)
    return stream[: n * length].reshape(n, length).astype(np.int32)


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


def _task(config, vocab, model, train, held_out, *, exact_match: bool, after_training=None) -> Task:
    """A loop Task over text-to-text arrays; `config` supplies seed and data.*batch_size."""
    eval_batches = array_pipeline.eval_batches(held_out, batch_size=config.data.eval_batch_size)

    def train_iterator(process_index, process_count):
        return array_pipeline.train_iterator(
            train,
            global_batch_size=config.data.batch_size,
            seed=config.seed,
            process_index=process_index,
            process_count=process_count,
        )

    tokens = train["inputs"].shape[1] + train["targets"].shape[1]
    return Task(
        model=model,
        init_inputs=(train["inputs"][:1], train["targets"][:1]),
        loss_fn=seq2seq_loss(model, vocab, exact_match=exact_match),
        train_iterator=train_iterator,
        eval_batches=lambda: eval_batches,
        items_per_example=tokens,
        items_name="tokens",
        after_training=after_training,
    )


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


def pretrain_task(config) -> Task:
    vocab = vocabulary(config)
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

    return _task(
        config, vocab, model, train, held_out, exact_match=False, after_training=after_training
    )


def finetune_task(config, pretrained=None) -> tuple[Task, list[str]]:
    """The docstring-package task; `pretrained`: params to start from (None: from scratch)."""
    vocab = vocabulary(config)
    ft = config.finetune.data
    texts, labels = stdlib_docstrings.load_examples("train", ft.data_dir)
    classes = select_classes(
        labels, ft.num_classes, ft.min_train_docs,
        keys=("finetune.data.num_classes", "finetune.data.min_train_docs"),
    )  # fmt: skip
    eval_texts, eval_labels = stdlib_docstrings.load_examples(ft.eval_split, ft.data_dir)
    lengths = dict(max_input_len=ft.max_input_len, max_target_len=ft.max_target_len)
    train = text_to_text.classification_arrays(vocab, texts, labels, classes, **lengths)
    held_out = text_to_text.classification_arrays(
        vocab, eval_texts, eval_labels, classes, **lengths
    )
    train.pop("label")
    held_out.pop("label")
    fields = config.model.to_dict()
    model = t5.make(**fields)
    task = _task(config.finetune, vocab, model, train, held_out, exact_match=True)
    if pretrained is not None:  # every weight from pre-training, on the fresh init's shards
        task = dataclasses.replace(task, warm_start=from_pretrained(pretrained))
    return task, classes


def plot(workdir: pathlib.Path, path: pathlib.Path) -> None:
    """Left: span-corruption loss while pre-training; right: test exact match while fine-tuning
    from the pre-trained weights and from scratch."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, label in (("train/loss", "train"), ("eval/loss", "eval (fixed corruption)")):
        left.plot(*metric_curve(workdir / "pretrain", key), marker="." if "eval" in key else None,
                  label=label)  # fmt: skip
    left.set(xlabel="step", ylabel="nats per target byte", title="Span-corruption pre-training")
    left.legend()
    for stage, label in (("finetune_pretrained", "pre-trained"), ("finetune_scratch", "scratch")):
        right.plot(*metric_curve(workdir / stage, "eval/exact_match"), marker="o", label=label)
    right.set(xlabel="step", ylabel="test exact match", title="Package name, generated as text")
    right.set_ylim(0, 1)
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(results: dict) -> str:
    pre = results["pretrain"]
    lines = [
        "| stage | steps | metric | value |",
        "|---|---:|---|---:|",
        f"| span-corruption pre-training | {pre['steps']} | eval loss (nats / target byte) | "
        f"{pre['eval_loss']:.3f} |",
        f"| | | eval accuracy of target bytes | {pre['eval_accuracy']:.3f} |",
    ]
    for name, row in results["finetune"].items():
        lines.append(
            f"| fine-tune ({name}) | {row['steps']} | test exact match ({len(results['classes'])} "
            f"classes) | {row['exact_match']:.3f} |"
        )
    return "\n".join(lines) + f"\n\nClasses: {', '.join(results['classes'])}.\n"


def main(config, workdir) -> dict:
    workdir = pathlib.Path(workdir)
    pre = loop.train(config, workdir / "pretrain", pretrain_task(config))
    if pre.preempted:  # checkpointed; the next stages would start from unfinished weights
        logging.info("Preempted while pre-training at step %d; rerun to resume.", pre.step)
        return {"preempted": "pretrain", "step": pre.step}
    params = jax.device_get(pre.state.params)
    results = {"pretrain": {}, "finetune": {}, "classes": []}
    for name, start in (("pretrained", params), ("scratch", None)):
        task, classes = finetune_task(config, start)
        result = loop.train(config.finetune, workdir / f"finetune_{name}", task)
        if result.preempted:
            logging.info("Preempted while fine-tuning (%s); rerun to resume.", name)
            return {"preempted": f"finetune_{name}", "step": result.step}
        last = last_record_with(workdir / f"finetune_{name}", "eval/exact_match")
        results["finetune"][name] = {
            "steps": result.step,
            "exact_match": last["eval/exact_match"],
            "loss": last["eval/loss"],
        }
        results["classes"] = classes
    last = last_record_with(workdir / "pretrain", "eval/loss")
    results["pretrain"] = {
        "steps": pre.step,
        "eval_loss": last["eval/loss"],
        "eval_accuracy": last["eval/accuracy"],
    }
    if write_results(workdir, results, markdown(results)):
        plot(workdir, workdir / "t5_span_corruption.png")
    return results


if __name__ == "__main__":
    entry.run(main)
