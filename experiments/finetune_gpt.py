"""Pre-train GPT-tiny as a causal language model, then fine-tune it text-to-text to name a
docstring's package: the decoder-only row beside BERT (experiments/train_mlm.py) and T5
(experiments/train_t5.py).

  python -m experiments.finetune_gpt --config=experiments/configs/gpt/classify.py \
      --workdir=runs/gpt_finetune

Three runs of the one training loop, each in its own sub-workdir (each resumes; a finished stage
is restored, not retrained):
  pretrain/            next-token prediction (`research.train.causal_lm.causal_lm_loss`) on
                       128-byte windows of pydoc_topics; evaluated on the validation windows.
  finetune_pretrained/ T5's task (`train_t5.finetune_task`'s classes, splits, prefix and cut), as
                       one sequence: "classify: <docstring>" + separator + package name + EOS,
                       learned only on the name and its EOS (`completion_weights`); every weight
                       from pretrain/.
  finetune_scratch/    the same, every weight fresh.
Fine-tuning is scored by `eval/exact_match`: the share of test docstrings whose greedy generation
from the prompt (prompt batches left-padded, `research.generate.decoding.decode(prompt_mask=)`)
is exactly the package name + EOS. Writes results.json, results.md and gpt_finetune.png.

Text is UTF-8 bytes after the project's special ids (`text_to_text.ByteVocabulary`, the one T5
uses), in both stages, so the model's vocabulary is the byte vocabulary's 293 ids.
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
from experiments.train_t5 import vocabulary, windows
from research.data import array_pipeline, pydoc_topics, stdlib_docstrings, text_to_text
from research.generate import decoding
from research.generate.sampling import TokenChooser, left_pad
from research.models import transformer_lm
from research.tasks.label_selection import select_classes
from research.train import loop
from research.train.causal_lm import causal_lm_loss, completion_weights
from research.train.metrics import last_record_with, metric_curve
from research.train.task import Task
from research.train.warm_start import from_pretrained

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

GREEDY = TokenChooser(temperature=0.0)


def pretrain_arrays(config, vocab) -> tuple[dict, dict]:
    """(train, eval) {'tokens': int32 [N, window]}: the corpus's byte stream cut into windows."""
    d = config.data
    train = windows(vocab, pydoc_topics.load_texts("train", d.data_dir), d.window)
    held_out = windows(
        vocab, pydoc_topics.load_texts("validation", d.data_dir), d.window, d.num_eval
    )
    return {"tokens": train}, {"tokens": held_out}


def sequence_arrays(vocab, pairs: dict, separator: str) -> dict[str, np.ndarray]:
    """Text-to-text pairs (`text_to_text.encode_pairs`' layout) as decoder-only sequences.

    Returns 'tokens' int32 [N,T]: input text (its EOS dropped), the separator's bytes, the target
    (label + EOS), right padding; 'target_weights' float32 [N,T]: 1 on the target's positions
    only; 'prompt' int32 [N,P] / 'prompt_mask' bool [N,P]: input text + separator, left-padded
    (`sampling.left_pad`), what generation starts from; 'label' int32 [N,L]: the targets as given.
    T = S - 1 + len(separator bytes) + L.
    """
    inputs, targets = pairs["inputs"], pairs["targets"]
    sep = vocab.encode(separator)
    text_lengths = np.sum(inputs != vocab.pad_id, axis=1) - 1  # without the EOS
    target_lengths = np.sum(targets != vocab.pad_id, axis=1)
    width = inputs.shape[1] - 1 + len(sep) + targets.shape[1]
    tokens = np.full((len(inputs), width), vocab.pad_id, np.int32)
    prompts = []
    for i, (n, m) in enumerate(zip(text_lengths, target_lengths, strict=True)):
        prompt = np.concatenate([inputs[i, :n], sep])
        prompts.append(prompt)
        tokens[i, : len(prompt) + m] = np.concatenate([prompt, targets[i, :m]])
    prompt_lengths = np.array([len(p) for p in prompts])
    weights = completion_weights(prompt_lengths, prompt_lengths + target_lengths, width)
    prompt, prompt_mask = left_pad(prompts, vocab.pad_id)
    return {
        "tokens": tokens,
        "target_weights": np.asarray(weights),
        "prompt": prompt,
        "prompt_mask": prompt_mask,
        "label": targets.astype(np.int32),
    }


def causal_loss(model, vocab, *, exact_match: bool):
    """`causal_lm_loss` on batch['tokens'] (batch['target_weights'] when given; eval padding rows
    weighted 0); with `exact_match`, evaluation also greedily generates from batch['prompt'] and
    scores the generated ids against batch['label'] as whole strings."""
    decoder = transformer_lm.Model(model.config)  # hashable (decode's static argument)

    def loss_fn(params, model_state, batch, rng, train):
        tokens = batch["tokens"]
        rows = batch.get("weights", jnp.ones(tokens.shape[:1], jnp.float32))
        weights = batch.get("target_weights", jnp.ones(tokens.shape, jnp.float32))
        logits = model.apply({"params": params}, tokens, train=train, rngs={"dropout": rng})
        loss, metrics = causal_lm_loss(logits, tokens, weights * rows[:, None])
        if exact_match and not train:
            # An eval batch's padding rows have an all-False mask: give them one real token.
            prompt_mask = batch["prompt_mask"].at[:, -1].set(True)
            generated = decoding.decode(
                decoder, params, batch["prompt"], num_tokens=batch["label"].shape[1],
                select=GREEDY, rng=rng, eos_id=vocab.eos_id, prompt_mask=prompt_mask,
            )  # fmt: skip
            exact = text_to_text.exact_match(generated, batch["label"], vocab.pad_id)
            metrics["exact_match"] = (jnp.sum(exact * rows), jnp.sum(rows))
        return loss, metrics, model_state

    return loss_fn


def make_task(config, vocab, model, train, held_out, *, exact_match, after_training=None) -> Task:
    """A loop Task over {'tokens', ...} arrays; `config` supplies seed and data.*batch_size."""
    train = {k: train[k] for k in ("tokens", "target_weights") if k in train}
    eval_batches = array_pipeline.eval_batches(held_out, batch_size=config.data.eval_batch_size)

    def train_iterator(process_index, process_count):
        return array_pipeline.train_iterator(
            train,
            global_batch_size=config.data.batch_size,
            seed=config.seed,
            process_index=process_index,
            process_count=process_count,
        )

    return Task(
        model=model,
        init_inputs=(train["tokens"][:1],),
        loss_fn=causal_loss(model, vocab, exact_match=exact_match),
        train_iterator=train_iterator,
        eval_batches=lambda: eval_batches,
        items_per_example=train["tokens"].shape[1],
        items_name="tokens",
        flops_per_item=transformer_lm.flops_per_token(model.config, train["tokens"].shape[1]),
        after_training=after_training,
    )


def pretrain_task(config) -> Task:
    vocab = vocabulary(config)
    train, held_out = pretrain_arrays(config, vocab)
    model = transformer_lm.make(**config.model.to_dict())
    half = config.data.window // 2

    def after_training(params, model_state) -> str:
        del model_state  # stateless
        window = held_out["tokens"][0]
        generated = decoding.decode(
            model, params, window[None, :half], num_tokens=half, select=GREEDY,
            rng=jax.random.key(0), eos_id=vocab.eos_id,
        )  # fmt: skip
        return (
            f"Greedy continuation of a held-out window:\n  prompt:    {vocab.decode(window[:half])!r}"
            f"\n  true:      {vocab.decode(window[half:])!r}"
            f"\n  generated: {vocab.decode(generated[0])!r}"
        )

    return make_task(
        config, vocab, model, train, held_out, exact_match=False, after_training=after_training
    )


def finetune_task(config, pretrained=None) -> tuple[Task, list[str]]:
    """T5's docstring-package task as sequences; `pretrained`: params to start from (None:
    scratch). Classes, splits, prefix and input cut are train_t5's (`select_classes`,
    `classification_arrays` with the same lengths)."""
    vocab = vocabulary(config)
    ft = config.finetune.data
    texts, labels = stdlib_docstrings.load_examples("train", ft.data_dir)
    classes = select_classes(
        labels, ft.num_classes, ft.min_train_docs,
        keys=("finetune.data.num_classes", "finetune.data.min_train_docs"),
    )  # fmt: skip
    eval_texts, eval_labels = stdlib_docstrings.load_examples(ft.eval_split, ft.data_dir)
    lengths = dict(max_input_len=ft.max_input_len, max_target_len=ft.max_target_len)
    arrays = [
        sequence_arrays(
            vocab,
            text_to_text.classification_arrays(vocab, t, lab, classes, **lengths),
            ft.separator,
        )  # fmt: skip
        for t, lab in ((texts, labels), (eval_texts, eval_labels))
    ]
    model = transformer_lm.make(**config.model.to_dict())
    task = make_task(config.finetune, vocab, model, *arrays, exact_match=True)
    if pretrained is not None:  # every weight from pre-training, on the fresh init's shards
        task = dataclasses.replace(task, warm_start=from_pretrained(pretrained))
    return task, classes


def plot(workdir: pathlib.Path, path: pathlib.Path) -> None:
    """Left: next-token loss while pre-training; right: test exact match while fine-tuning from
    the pre-trained weights and from scratch."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, label, marker in (("train/loss", "train", None), ("eval/loss", "validation", ".")):
        left.plot(*metric_curve(workdir / "pretrain", key), marker=marker, label=label)
    left.set(xlabel="step", ylabel="nats per byte", title="Causal-LM pre-training (bytes)")
    left.legend()
    for name in ("pretrained", "scratch"):
        right.plot(*metric_curve(workdir / f"finetune_{name}", "eval/exact_match"), marker="o",
                   label="pre-trained" if name == "pretrained" else name)  # fmt: skip
    right.set(xlabel="step", ylabel="test exact match", title="Package name, generated greedily")
    right.set_ylim(0, 1)
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(results: dict) -> str:
    pre, classes = results["pretrain"], results["classes"]
    rows = [
        "| stage | steps | metric | value |",
        "|---|---:|---|---:|",
        f"| causal-LM pre-training | {pre['steps']} | validation loss (nats / byte) | "
        f"{pre['eval_loss']:.3f} |",
        f"| | | next-byte accuracy | {pre['eval_accuracy']:.3f} |",
    ]
    for name, row in results["finetune"].items():
        rows.append(
            f"| fine-tune ({name}) | {row['steps']} | test exact match ({len(classes)} classes) "
            f"| {row['exact_match']:.3f} |"
        )
    return "\n".join(rows) + f"\n\nClasses: {', '.join(classes)}.\n"


def main(config, workdir) -> dict:
    workdir = pathlib.Path(workdir)
    pre = loop.train(config, workdir / "pretrain", pretrain_task(config))
    if pre.preempted:  # checkpointed; fine-tuning would start from unfinished weights
        logging.info("Preempted while pre-training at step %d; rerun to resume.", pre.step)
        return {"preempted": "pretrain", "step": pre.step}
    last = last_record_with(workdir / "pretrain", "eval/loss")
    results = {
        "pretrain": {
            "steps": pre.step,
            "eval_loss": last["eval/loss"],
            "eval_accuracy": last["eval/accuracy"],
        },  # fmt: skip
        "finetune": {},
        "classes": [],
    }
    starts = {"pretrained": jax.device_get(pre.state.params), "scratch": None}
    for name, start in starts.items():
        task, results["classes"] = finetune_task(config, start)
        stage = f"finetune_{name}"
        done = loop.train(config.finetune, workdir / stage, task)
        if done.preempted:
            logging.info("Preempted while fine-tuning (%s); rerun to resume.", name)
            return {"preempted": stage, "step": done.step}
        final = last_record_with(workdir / stage, "eval/exact_match")
        results["finetune"][name] = {
            "steps": done.step, "exact_match": final["eval/exact_match"],
            "loss": final["eval/loss"],
        }  # fmt: skip
    if write_results(workdir, results, markdown(results)):
        plot(workdir, workdir / "gpt_finetune.png")
    return results


if __name__ == "__main__":
    entry.run(main)
