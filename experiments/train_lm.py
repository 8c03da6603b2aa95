"""Train a language model on a text dataset: the project's main job.

  python -m experiments.train_lm --config=experiments/configs/lm/gpt_tiny.py --workdir=runs/gpt_tiny

Re-running the same command resumes from the newest checkpoint in the workdir. Every knob is a
`--config.<key>=<value>` flag; see the config file's docstring.

The script supplies the training loop (`research.train.loop`) with a model chosen by
`config.model_name`, a next-token cross-entropy loss, and tokenized batches; it reports the best
n-gram model of the same split next to the validation loss, and prints a sample at the end.

Tokens: bytes by default; `--config.tokenizer.kind=sentencepiece_bpe|sentencepiece_unigram|byte_bpe|
wordpiece` with `--config.tokenizer.vocab_size=N --config.model.vocab_size=N` trains that tokenizer
on the train split on the first run and saves it in <workdir>/tokenizer; a resumed run reloads it
(never retrains), and a workdir whose tokenizer differs from the config is refused.
Evaluation also reports `eval/nats_per_byte`: summed nats over summed UTF-8 bytes of the text behind
the evaluated tokens (for bytes, the end-of-document targets carry 0 bytes), the unit that compares
runs with different tokenizers, and `eval/ngram_nats_per_byte` for the n-gram baseline.
"""

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from experiments import entry
from research import models
from research.data import lm_pipeline, text_corpus
from research.generate.sampling import sample
from research.tasks.tokenizer import load_or_train_tokenizer
from research.text import tokenizers
from research.text.ngram import best_ngram
from research.train import loop
from research.train.losses import classification_loss
from research.train.task import Task


def build_task(config, workdir=None) -> Task:
    """The LM task; `workdir` holds the trained tokenizer (None: train it in memory, save nothing)."""
    model_module = models.load(config.model_name)
    model = model_module.make(**config.model.to_dict())
    data = config.data
    texts = {
        split: text_corpus.load_texts(
            data.name, split, data_dir=data.data_dir, text_key=data.text_key
        )
        for split in dict.fromkeys((data.train_split, data.eval_split))
    }
    requested = config.tokenizer.vocab_size
    if config.tokenizer.kind != "bytes" and requested > model.config.vocab_size:
        raise ValueError(
            f"tokenizer.vocab_size={requested} exceeds model.vocab_size="
            f"{model.config.vocab_size}; set --config.model.vocab_size={requested}."
        )
    tokenizer = load_or_train_tokenizer(config, workdir, texts[data.train_split])
    if model.config.vocab_size < tokenizer.vocab_size:
        raise ValueError(
            f"model.vocab_size={model.config.vocab_size} is smaller than the "
            f"{config.tokenizer.kind} tokenizer's {tokenizer.vocab_size} ids; set "
            f"--config.model.vocab_size={tokenizer.vocab_size}."
        )
    max_len = getattr(model.config, "max_len", None)  # recurrent models have none
    if max_len is not None and data.seq_len > max_len:
        raise ValueError(
            f"data.seq_len={data.seq_len} exceeds model.max_len={max_len}; lower "
            "--config.data.seq_len or raise --config.model.max_len."
        )
    train_tokens = tokenizer.encode_documents(texts[data.train_split])
    eval_tokens, eval_bytes = tokenizers.encode_documents_with_bytes(
        tokenizer, texts[data.eval_split]
    )
    vocab_size = model.config.vocab_size
    logging.info(
        "Data %s: %d train / %d eval tokens (%s, %.3f bytes per eval token).",
        data.name, len(train_tokens), len(eval_tokens), config.tokenizer.kind,
        eval_bytes.sum() / max(len(eval_tokens), 1),
    )  # fmt: skip
    eval_batches = lm_pipeline.eval_batches(
        eval_tokens, seq_len=data.seq_len, batch_size=data.batch_size, vocab_size=vocab_size
    )
    # The same layout over the byte counts: each target's UTF-8 bytes, for eval/nats_per_byte.
    byte_batches = lm_pipeline.eval_batches(
        eval_bytes,
        seq_len=data.seq_len,
        batch_size=data.batch_size,
        vocab_size=int(eval_bytes.max(initial=0)) + 1,
    )
    for batch, byte_batch in zip(eval_batches, byte_batches, strict=True):
        batch["target_bytes"] = byte_batch["targets"].astype(np.float32)
    # n-gram keys are V^order int64s: the largest orders of a big vocabulary would overflow.
    orders = tuple(o for o in (1, 2, 3, 4, 5) if vocab_size**o < 2**62)
    ngram = best_ngram(train_tokens, eval_tokens, vocab_size=vocab_size, orders=orders)
    ngram_per_byte = ngram.loss * (len(eval_tokens) - 1) / max(int(eval_bytes[1:].sum()), 1)
    logging.info(
        "Best n-gram baseline on %s: %.4f nats/token, %.4f nats/byte (order %d, add-k %g).",
        data.eval_split, ngram.loss, ngram_per_byte, ngram.order, ngram.k,
    )  # fmt: skip

    def loss_fn(params, model_state, batch, rng, train):
        variables = {"params": params, **model_state}
        if model_state:  # e.g. the Performer's redraw counter ('performer'), advanced in training
            logits, model_state = model.apply(
                variables, batch["inputs"], train=train, rngs={"dropout": rng},
                mutable=list(model_state),
            )  # fmt: skip
        else:
            logits = model.apply(variables, batch["inputs"], train=train, rngs={"dropout": rng})
        loss, metrics = classification_loss(logits, batch["targets"], batch.get("weights"))
        if "target_bytes" in batch:  # evaluation: nats per UTF-8 byte of the evaluated text
            num_bytes = jnp.sum(batch["target_bytes"] * batch["weights"])
            metrics["nats_per_byte"] = (metrics["loss"][0], num_bytes)
        return loss, metrics, model_state

    def train_iterator(process_index, process_count):
        return lm_pipeline.train_iterator(
            train_tokens,
            seq_len=data.seq_len,
            global_batch_size=data.batch_size,
            seed=config.seed,
            vocab_size=vocab_size,
            process_index=process_index,
            process_count=process_count,
        )

    prompt = tokenizer.encode(config.sample.prompt)
    try:  # refuse an impossible sample now, not after the whole training run
        model.init_cache(1, len(prompt) + config.sample.num_tokens)
    except ValueError as e:
        raise ValueError(
            f"The end-of-training sample cannot be drawn: {e} Lower --config.sample.num_tokens."
        ) from None

    def after_training(params, model_state) -> str:
        # The decoding protocol applies {'params'} only: a Performer samples with its first
        # feature draw (research/nn/attention.py), the model state is not used.
        del model_state
        tokens = sample(
            model,
            params,
            prompt,
            num_tokens=config.sample.num_tokens,
            rng=jax.random.key(config.seed),
            temperature=config.sample.temperature,
            top_k=config.sample.top_k or None,
            top_p=config.sample.top_p or None,
            eos_id=tokenizer.eos_id,  # stop at the end of a document
        )
        return f"Sample from {config.sample.prompt!r}:\n{tokenizer.decode(np.asarray(tokens))}"

    flops = getattr(model_module, "flops_per_token", None)
    return Task(
        model=model,
        init_inputs=(np.zeros((1, data.seq_len), np.int32),),
        loss_fn=loss_fn,
        train_iterator=train_iterator,
        eval_batches=lambda: eval_batches,
        items_per_example=data.seq_len,
        items_name="tokens",
        flops_per_item=flops(model.config, data.seq_len) if flops else None,
        eval_reference={"eval/ngram_loss": ngram.loss, "eval/ngram_nats_per_byte": ngram_per_byte},
        after_training=after_training,
    )


def main(config, workdir) -> loop.Result:
    return loop.train(config, workdir, build_task(config, workdir))


if __name__ == "__main__":
    entry.run(main)
