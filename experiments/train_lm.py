"""Train a language model on a text dataset: the project's main job.

  python -m experiments.train_lm --config=experiments/configs/lm/gpt_tiny.py --workdir=runs/gpt_tiny

Re-running the same command resumes from the newest checkpoint in the workdir. Every knob is a
`--config.<key>=<value>` flag; see the config file's docstring.

The script supplies the training loop (`research.train.loop`) with a model chosen by
`config.model_name`, a next-byte cross-entropy loss, and byte-tokenized batches; it reports the best
n-gram model of the same split next to the validation loss, and prints a sample at the end.
"""

import jax
import numpy as np
from absl import logging

from experiments import entry
from research import models
from research.data import lm_pipeline, text_corpus
from research.generate.sampling import sample
from research.text.byte_tokenizer import ByteTokenizer
from research.text.ngram import best_ngram
from research.train import loop
from research.train.losses import classification_loss
from research.train.task import Task


def build_task(config) -> Task:
    model_module = models.load(config.model_name)
    model = model_module.make(**config.model.to_dict())
    tokenizer = ByteTokenizer()
    if model.config.vocab_size < tokenizer.vocab_size:
        raise ValueError(
            f"model.vocab_size={model.config.vocab_size} is smaller than the byte tokenizer's "
            f"{tokenizer.vocab_size} ids; set --config.model.vocab_size={tokenizer.vocab_size}."
        )
    data = config.data
    max_len = getattr(model.config, "max_len", None)  # recurrent models have none
    if max_len is not None and data.seq_len > max_len:
        raise ValueError(
            f"data.seq_len={data.seq_len} exceeds model.max_len={max_len}; lower "
            "--config.data.seq_len or raise --config.model.max_len."
        )
    splits = {}
    for split in (data.train_split, data.eval_split):
        texts = text_corpus.load_texts(
            data.name, split, data_dir=data.data_dir, text_key=data.text_key
        )
        splits[split] = tokenizer.encode_documents(texts)
    train_tokens, eval_tokens = splits[data.train_split], splits[data.eval_split]
    vocab_size = model.config.vocab_size
    logging.info(
        "Data %s: %d train / %d eval tokens.", data.name, len(train_tokens), len(eval_tokens)
    )
    eval_batches = lm_pipeline.eval_batches(
        eval_tokens, seq_len=data.seq_len, batch_size=data.batch_size, vocab_size=vocab_size
    )
    ngram = best_ngram(train_tokens, eval_tokens, vocab_size=vocab_size)
    logging.info(
        "Best n-gram baseline on %s: %.4f nats/byte (order %d, add-k %g).",
        data.eval_split, ngram.loss, ngram.order, ngram.k,
    )  # fmt: skip

    def loss_fn(params, model_state, batch, rng, train):
        logits = model.apply(
            {"params": params, **model_state}, batch["inputs"], train=train, rngs={"dropout": rng}
        )  # [B,T,V]
        loss, metrics = classification_loss(logits, batch["targets"], batch.get("weights"))
        return loss, metrics, model_state  # stateless: the model state passes through

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
        del model_state  # the model is stateless
        tokens = sample(
            model,
            params,
            prompt,
            num_tokens=config.sample.num_tokens,
            rng=jax.random.key(config.seed),
            temperature=config.sample.temperature,
            top_k=config.sample.top_k or None,
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
        eval_reference={"eval/ngram_loss": ngram.loss},
        after_training=after_training,
    )


def main(config, workdir) -> loop.Result:
    return loop.train(config, workdir, build_task(config))


if __name__ == "__main__":
    entry.run(main)
