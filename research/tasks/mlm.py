"""Masked-LM pre-training of an encoder (BERT) on a text corpus: the Task, and the tokenizer it
trains or reloads.

    task, tokenizer = pretrain_task(config, workdir)

Every training window is [CLS] + `data.seq_len - 1` tokens of the corpus's document stream ([SEP]
ends a document). Masking happens inside the loss, from the step's rng (every epoch sees new masks
and a resumed run draws the same ones); evaluation batches carry masks drawn once (key: seed + 1,
batch index), so every evaluation scores the same positions. Evaluation also reports
`eval/unigram_loss`, the train unigram distribution's loss on those positions (no context).

Config keys read: seed, model_name, model.* (the encoder; model.max_len >= data.seq_len,
model.vocab_size >= the tokenizer's), data.{name, data_dir, text_key, train_split, eval_split,
seq_len, batch_size}, tokenizer.* (`research.tasks.tokenizer`), masking.{rate, mask_fraction,
random_fraction} (`research.train.masked_lm.mask_tokens`).
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from research import models
from research.data import lm_pipeline, text_corpus
from research.tasks.tokenizer import load_or_train_tokenizer
from research.text import special_tokens
from research.train.masked_lm import mask_tokens, masked_lm_loss
from research.train.task import Task

CLS, SEP, PAD = special_tokens.BOS_ID, special_tokens.EOS_ID, special_tokens.PAD_ID
NEVER_MASKED = (PAD, CLS, SEP)  # special ids that are never selected nor drawn as replacements


def with_cls(tokens: np.ndarray) -> np.ndarray:
    """[CLS] prepended to every row. Shapes: int [B,T] -> int32 [B,T+1]."""
    tokens = np.asarray(tokens, np.int32)
    return np.concatenate([np.full((len(tokens), 1), CLS, np.int32), tokens], axis=1)


def masked_eval_batches(batches, config, vocab_size: int) -> list[dict[str, np.ndarray]]:
    """lm_pipeline eval batches ({'inputs', 'weights'} [B,T]) -> [CLS] rows with masks drawn once:
    {'mlm_inputs', 'mlm_targets', 'mlm_weights', 'attention_mask'}, each [B,T+1]."""
    out = []
    for i, batch in enumerate(batches):
        tokens = with_cls(batch["inputs"])
        valid = np.concatenate([batch["weights"][:, :1] > 0, batch["weights"] > 0], axis=1)
        inputs, targets, weights = mask_tokens(
            jax.random.fold_in(jax.random.key(config.seed + 1), i),
            tokens,
            mask_id=special_tokens.MASK_ID,
            vocab_size=vocab_size,
            special_ids=NEVER_MASKED,
            valid=valid,
            **config.masking,
        )
        out.append(
            {
                "mlm_inputs": np.asarray(inputs),
                "mlm_targets": np.asarray(targets),
                "mlm_weights": np.asarray(weights),
                "attention_mask": valid.astype(np.int32),
            }
        )
    return out


def unigram_loss(train_tokens: np.ndarray, batches, vocab_size: int) -> float:
    """Nats per masked token of the train unigram distribution (add-one): the no-context baseline."""
    counts = np.bincount(train_tokens, minlength=vocab_size) + 1.0
    log_p = np.log(counts / counts.sum())
    total = sum(float(-(log_p[b["mlm_targets"]] * b["mlm_weights"]).sum()) for b in batches)
    return total / sum(float(b["mlm_weights"].sum()) for b in batches)


def pretrain_task(config, workdir, *, flag_prefix: str = "") -> tuple[Task, Any]:
    """The masked-LM task on the corpus, and its tokenizer (trained or reloaded in `workdir`).

    flag_prefix: where `config` sits in the experiment's config ('mlm' when it is the `mlm`
    section), so that errors name the flags that exist (`--config.mlm.masking.rate`)."""
    flag = f"--config.{flag_prefix}." if flag_prefix else "--config."
    rate = config.masking.rate
    if not 0 < rate <= 1:  # 0 masks nothing: no loss to train on, and 0/0 per masked token
        raise ValueError(
            f"{flag}masking.rate={rate} is outside (0, 1]: it is the share of tokens masked, and "
            f"the model learns only from masked ones; set {flag}masking.rate=0.15 (BERT's rate)."
        )
    model = models.load(config.model_name).make(**config.model.to_dict())
    data = config.data
    if data.seq_len > model.config.max_len:
        raise ValueError(
            f"data.seq_len={data.seq_len} exceeds model.max_len={model.config.max_len}; lower "
            f"{flag}data.seq_len or raise {flag}model.max_len."
        )
    texts = {
        split: text_corpus.load_texts(
            data.name, split, data_dir=data.data_dir, text_key=data.text_key
        )
        for split in dict.fromkeys((data.train_split, data.eval_split))
    }
    tokenizer = load_or_train_tokenizer(config, workdir, texts[data.train_split])
    vocab_size = model.config.vocab_size
    if vocab_size < tokenizer.vocab_size:
        raise ValueError(
            f"model.vocab_size={vocab_size} is smaller than the tokenizer's "
            f"{tokenizer.vocab_size} ids; set {flag}model.vocab_size={tokenizer.vocab_size}."
        )
    train_tokens = tokenizer.encode_documents(texts[data.train_split])
    eval_tokens = tokenizer.encode_documents(texts[data.eval_split])
    window = data.seq_len - 1  # + [CLS]
    eval_batches = masked_eval_batches(
        lm_pipeline.eval_batches(
            eval_tokens, seq_len=window, batch_size=data.batch_size, vocab_size=vocab_size
        ),
        config,
        vocab_size,
    )
    if not sum(float(b["mlm_weights"].sum()) for b in eval_batches):
        raise ValueError(
            f"The evaluation batches have no masked token ({len(eval_tokens)} tokens at "
            f"masking.rate={rate}), so nothing can be scored; raise {flag}masking.rate or use a "
            f"larger {flag}data.eval_split."
        )
    baseline = unigram_loss(train_tokens, eval_batches, vocab_size)
    logging.info(
        "MLM data: %d train / %d eval tokens; unigram baseline %.4f nats per masked token.",
        len(train_tokens), len(eval_tokens), baseline,
    )  # fmt: skip

    def loss_fn(params, model_state, batch, rng, train):
        if "mlm_weights" in batch:  # evaluation: masks drawn once
            inputs, targets = batch["mlm_inputs"], batch["mlm_targets"]
            weights, attention_mask = batch["mlm_weights"], batch["attention_mask"]
        else:  # training windows: no padding; fresh masks from the step's rng
            mask_rng, rng = jax.random.split(rng)
            tokens = jnp.concatenate(
                [jnp.full((batch["inputs"].shape[0], 1), CLS, jnp.int32), batch["inputs"]], axis=1
            )
            inputs, targets, weights = mask_tokens(
                mask_rng, tokens, mask_id=special_tokens.MASK_ID, vocab_size=vocab_size,
                special_ids=NEVER_MASKED, **config.masking,
            )  # fmt: skip
            attention_mask = None
        out = model.apply(
            {"params": params, **model_state},
            inputs,
            attention_mask=attention_mask,
            train=train,
            rngs={"dropout": rng},
        )
        loss, metrics = masked_lm_loss(out["mlm_logits"], targets, weights)
        return loss, metrics, model_state

    def train_iterator(process_index, process_count):
        return lm_pipeline.train_iterator(
            train_tokens,
            seq_len=window,
            global_batch_size=data.batch_size,
            seed=config.seed,
            vocab_size=vocab_size,
            process_index=process_index,
            process_count=process_count,
        )

    task = Task(
        model=model,
        init_inputs=(np.zeros((1, data.seq_len), np.int32),),
        loss_fn=loss_fn,
        train_iterator=train_iterator,
        eval_batches=lambda: eval_batches,
        items_per_example=data.seq_len,
        items_name="tokens",
        eval_reference={"eval/unigram_loss": baseline},
    )
    return task, tokenizer
