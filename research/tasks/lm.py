"""The language-model task: next-token cross-entropy on a tokenized text corpus, an n-gram baseline
beside the validation loss, and a sample at the end of training.

    task = build_task(config, workdir)   # then loop.train(config, workdir, task) or stages.run

Config keys read: model_name, model.* (the model file's Config fields), data.{name, data_dir,
text_key, train_split, eval_split, seq_len, batch_size}, tokenizer.* (research/tasks/tokenizer.py),
sample.{prompt, num_tokens, temperature, top_k, top_p}, seed.

Evaluation reports `eval/nats_per_byte` next to `eval/loss` (nats per token): summed nats over
summed UTF-8 bytes of the text behind the evaluated tokens (for bytes, the end-of-document targets
carry 0 bytes), the unit that compares runs with different tokenizers; `eval/ngram_loss` and
`eval/ngram_nats_per_byte` are the best n-gram model of the same split.
"""

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from research import models
from research.data import lm_pipeline, text_corpus
from research.generate.sampling import sample
from research.tasks.tokenizer import load_or_train_tokenizer
from research.text import tokenizers
from research.text.ngram import best_ngram
from research.train.losses import classification_loss
from research.train.task import Task


def lm_loss(model):
    """The `Task.loss_fn` of next-token prediction with `model` (logits [B,T,V] from inputs [B,T]).

    Batches: 'inputs', 'targets' int [B,T], optional 'weights' [B,T]; evaluation batches with
    'target_bytes' [B,T] (UTF-8 bytes behind each target) also give the 'nats_per_byte' pair.
    A model with state (the Performer's redraw counter) advances it in training.
    """

    def loss_fn(params, model_state, batch, rng, train):
        variables = {"params": params, **model_state}
        if model_state:
            logits, model_state = model.apply(
                variables, batch["inputs"], train=train, rngs={"dropout": rng},
                mutable=list(model_state),
            )  # fmt: skip
        else:
            logits = model.apply(variables, batch["inputs"], train=train, rngs={"dropout": rng})
        loss, metrics = classification_loss(logits, batch["targets"], batch.get("weights"))
        if "target_bytes" in batch:
            num_bytes = jnp.sum(batch["target_bytes"] * batch["weights"])
            metrics["nats_per_byte"] = (metrics["loss"][0], num_bytes)
        return loss, metrics, model_state

    return loss_fn


def load_split_texts(data) -> dict[str, list[str]]:
    """{split: documents} of the train and eval splits of `data` (the config's data section)."""
    return {
        split: text_corpus.load_texts(
            data.name, split, data_dir=data.data_dir, text_key=data.text_key
        )
        for split in dict.fromkeys((data.train_split, data.eval_split))
    }


def check_sizes(config, model_config) -> None:
    """Refuses a requested tokenizer bigger than the model's vocabulary, or windows longer than the
    model's max_len, before any tokenizer is trained."""
    requested, vocab_size = config.tokenizer.vocab_size, model_config.vocab_size
    if config.tokenizer.kind != "bytes" and requested > vocab_size:
        raise ValueError(
            f"tokenizer.vocab_size={requested} exceeds model.vocab_size={vocab_size}; set "
            f"--config.model.vocab_size={requested}."
        )
    max_len = getattr(model_config, "max_len", None)  # recurrent models have none
    if max_len is not None and config.data.seq_len > max_len:
        raise ValueError(
            f"data.seq_len={config.data.seq_len} exceeds model.max_len={max_len}; lower "
            "--config.data.seq_len or raise --config.model.max_len."
        )


def window_iterator(tokens, data, *, seed: int, vocab_size: int):
    """`Task.train_iterator` of lm_pipeline's shuffled windows of `tokens` (int [L]): batches of
    data.batch_size x data.seq_len 'inputs' and 'targets'."""

    def train_iterator(process_index, process_count):
        return lm_pipeline.train_iterator(
            tokens,
            seq_len=data.seq_len,
            global_batch_size=data.batch_size,
            seed=seed,
            vocab_size=vocab_size,
            process_index=process_index,
            process_count=process_count,
        )

    return train_iterator


def eval_batches_with_bytes(eval_tokens, eval_bytes, data, vocab_size: int) -> list[dict]:
    """lm_pipeline's eval batches of `eval_tokens`, each with 'target_bytes' float32 [B,T]: the
    UTF-8 bytes behind every target, laid out the same way (eval_tokens, eval_bytes [L])."""
    batches = lm_pipeline.eval_batches(
        eval_tokens, seq_len=data.seq_len, batch_size=data.batch_size, vocab_size=vocab_size
    )
    byte_batches = lm_pipeline.eval_batches(
        eval_bytes,
        seq_len=data.seq_len,
        batch_size=data.batch_size,
        vocab_size=int(eval_bytes.max(initial=0)) + 1,
    )
    for batch, byte_batch in zip(batches, byte_batches, strict=True):
        batch["target_bytes"] = byte_batch["targets"].astype(np.float32)
    return batches


def sampler(config, model, tokenizer):
    """`Task.after_training` drawing the config's sample; refuses an impossible one now, not after
    the whole training run."""
    prompt = tokenizer.encode(config.sample.prompt)
    try:
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

    return after_training


def build_task(config, workdir=None) -> Task:
    """The LM task; `workdir` holds the trained tokenizer (None: train it in memory, save nothing)."""
    model_module = models.load(config.model_name)
    model = model_module.make(**config.model.to_dict())
    data = config.data
    texts = load_split_texts(data)
    check_sizes(config, model.config)
    tokenizer = load_or_train_tokenizer(config, workdir, texts[data.train_split])
    if model.config.vocab_size < tokenizer.vocab_size:
        raise ValueError(
            f"model.vocab_size={model.config.vocab_size} is smaller than the "
            f"{config.tokenizer.kind} tokenizer's {tokenizer.vocab_size} ids; set "
            f"--config.model.vocab_size={tokenizer.vocab_size}."
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
    eval_batches = eval_batches_with_bytes(eval_tokens, eval_bytes, data, vocab_size)
    # n-gram keys are V^order int64s: the largest orders of a big vocabulary would overflow.
    orders = tuple(o for o in (1, 2, 3, 4, 5) if vocab_size**o < 2**62)
    ngram = best_ngram(train_tokens, eval_tokens, vocab_size=vocab_size, orders=orders)
    ngram_per_byte = ngram.loss * (len(eval_tokens) - 1) / max(int(eval_bytes[1:].sum()), 1)
    logging.info(
        "Best n-gram baseline on %s: %.4f nats/token, %.4f nats/byte (order %d, add-k %g).",
        data.eval_split, ngram.loss, ngram_per_byte, ngram.order, ngram.k,
    )  # fmt: skip

    after_training = sampler(config, model, tokenizer)
    flops = getattr(model_module, "flops_per_token", None)
    return Task(
        model=model,
        init_inputs=(np.zeros((1, data.seq_len), np.int32),),
        loss_fn=lm_loss(model),
        train_iterator=window_iterator(train_tokens, data, seed=config.seed, vocab_size=vocab_size),
        eval_batches=lambda: eval_batches,
        items_per_example=data.seq_len,
        items_name="tokens",
        flops_per_item=flops(model.config, data.seq_len) if flops else None,
        eval_reference={"eval/ngram_loss": ngram.loss, "eval/ngram_nats_per_byte": ngram_per_byte},
        after_training=after_training,
    )
