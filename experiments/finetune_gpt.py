"""Pre-train GPT-tiny as a causal language model, then fine-tune it text-to-text to name a
docstring's package: the decoder-only row beside BERT (experiments/train_mlm.py) and T5
(experiments/train_t5.py).

  python -m experiments.finetune_gpt --config=experiments/configs/gpt/classify.py \
      --workdir=runs/gpt_finetune

Three stages of `experiments.stages` (each in its own sub-workdir, resumable; a finished stage is
restored, not retrained; a preempted one stops the experiment):
  pretrain/            next-token prediction (`research.train.causal_lm.causal_lm_loss`) on
                       128-byte windows of pydoc_topics; evaluated on the validation windows.
  finetune_pretrained/ T5's task (`research.tasks.docstring_packages`: the same classes and splits;
                       the same prefix and cut), as one sequence: "classify: <docstring>" +
                       separator + package name + EOS, learned only on the name and its EOS
                       (`completion_weights`); every weight from pretrain/.
  finetune_scratch/    the same, every weight fresh.
Fine-tuning is scored by `eval/exact_match`: the share of test docstrings whose greedy generation
from the prompt (prompt batches left-padded, `research.generate.decoding.decode(prompt_mask=)`)
is exactly the package name + EOS. Writes results.json, results.md and gpt_finetune.png.

Text is UTF-8 bytes after the project's special ids (`research.tasks.byte_text`, as T5's), in both
stages, so the model's vocabulary is the byte vocabulary's 293 ids.
"""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from experiments import entry, stages
from experiments.results import finetune_report
from research.data import pydoc_topics, text_to_text
from research.generate import decoding
from research.generate.sampling import TokenChooser, left_pad
from research.models import transformer_lm
from research.tasks.arrays import array_task
from research.tasks.byte_text import byte_vocabulary, windows
from research.tasks.docstring_packages import DocstringPackages, docstring_packages
from research.train.causal_lm import causal_lm_loss, completion_weights
from research.train.task import Task
from research.train.warm_start import from_pretrained

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


def causal_task(model, vocab, train, held_out, section, *, exact_match, **fields) -> Task:
    """`array_task` training on train's 'tokens' (and 'target_weights' when given), evaluating
    on every array of held_out, with `section`'s seed and data.{batch_size, eval_batch_size}."""
    train = {k: train[k] for k in ("tokens", "target_weights") if k in train}
    length = train["tokens"].shape[1]
    return array_task(
        model, causal_loss(model, vocab, exact_match=exact_match), train, held_out,
        batch_size=section.data.batch_size, eval_batch_size=section.data.eval_batch_size,
        seed=section.seed, init_inputs=(train["tokens"][:1],), items_per_example=length,
        items_name="tokens", flops_per_item=transformer_lm.flops_per_token(model.config, length),
        **fields,
    )  # fmt: skip


def pretrain_task(config) -> Task:
    vocab = byte_vocabulary(config)
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

    return causal_task(
        model, vocab, train, held_out, config, exact_match=False, after_training=after_training
    )


def finetune_task(config, docs: DocstringPackages, pretrained=None) -> Task:
    """T5's docstring-package task (`docs`: the same classes and splits; the same prefix and input
    cut through `classification_arrays`) as sequences; `pretrained`: params to start from (every
    weight), None: from scratch."""
    vocab = byte_vocabulary(config)
    data = config.finetune.data
    train, held_out = (
        sequence_arrays(
            vocab,
            text_to_text.classification_arrays(
                vocab,
                texts,
                labels,
                docs.classes,
                max_input_len=data.max_input_len,
                max_target_len=data.max_target_len,
            ),
            data.separator,
        )  # fmt: skip
        for texts, labels in (docs.train, docs.held_out)
    )
    return causal_task(
        transformer_lm.make(**config.model.to_dict()), vocab, train, held_out, config.finetune,
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
        workdir, pre, fine, docs.classes, pretrain="causal-LM pre-training",
        rows={"eval_loss": ("eval/loss", "validation loss (nats / byte)"),
              "eval_accuracy": ("eval/accuracy", "next-byte accuracy")},
        metric=("exact_match", "test exact match"),
        figure=("gpt_finetune.png", "nats per byte", "validation",
                "Package name, generated greedily"),
    )  # fmt: skip


if __name__ == "__main__":
    entry.run(main)
