"""Pre-train tiny BERT with the masked-LM objective, then fine-tune it to classify docstrings.

  python -m experiments.train_mlm --config=experiments/configs/bert/mlm.py --workdir=runs/mlm

Three runs of the one training loop, each in its own sub-workdir (each resumes; a finished stage
is restored, not retrained): `pretrain/` (masked LM on pydoc_topics, `research.train.masked_lm`),
then `finetune_pretrained/` and `finetune_scratch/`: a sequence classifier on the pooled [CLS]
vector over the most frequent packages of stdlib_docstrings, from the pre-trained encoder and from
scratch. Writes results.json, results.md and bert_mlm.png into the workdir.

Masking happens inside the loss, from the step's rng (so every epoch sees new masks and a resumed
run draws the same ones); evaluation batches carry masks drawn once, so every evaluation scores
the same positions.
"""

import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from absl import logging

from experiments import entry
from experiments.results import write_results
from research import models
from research.data import array_pipeline, lm_pipeline, stdlib_docstrings, text_corpus
from research.tasks.label_selection import select_classes
from research.tasks.tokenizer import load_or_train_tokenizer
from research.text import special_tokens
from research.train import loop
from research.train.losses import classification_loss
from research.train.masked_lm import mask_tokens, masked_lm_loss
from research.train.metrics import last_record_with, metric_curve
from research.train.task import Task
from research.train.warm_start import from_pretrained

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

CLS, SEP, PAD = special_tokens.BOS_ID, special_tokens.EOS_ID, special_tokens.PAD_ID
NEVER_MASKED = (PAD, CLS, SEP)  # special ids that are never selected nor drawn as replacements
ENCODER = ("embed", "pos_embed", "type_embed", "embed_ln")  # + block_*: what pre-training gives


def with_cls(tokens: np.ndarray) -> np.ndarray:
    """[CLS] prepended to every row. Shapes: int [B,T] -> int32 [B,T+1]."""
    tokens = np.asarray(tokens, np.int32)
    return np.concatenate([np.full((len(tokens), 1), CLS, np.int32), tokens], axis=1)


def masked_eval_batches(batches, config, vocab_size: int) -> list[dict[str, np.ndarray]]:
    """lm_pipeline eval batches -> [CLS] rows with masks drawn once (key = seed, batch index)."""
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
            **config.mlm,
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


def pretrain_task(config, workdir) -> tuple[Task, Any]:
    """The masked-LM task on the corpus, and its tokenizer (trained or reloaded in `workdir`)."""
    model = models.load(config.model_name).make(**config.model.to_dict())
    data = config.data
    if data.seq_len > model.config.max_len:
        raise ValueError(
            f"data.seq_len={data.seq_len} exceeds model.max_len={model.config.max_len}; lower "
            "--config.data.seq_len or raise --config.model.max_len."
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
            f"{tokenizer.vocab_size} ids; set --config.model.vocab_size={tokenizer.vocab_size}."
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
                special_ids=NEVER_MASKED, **config.mlm,
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


def docstring_arrays(tokenizer, texts, labels, classes, seq_len: int) -> dict[str, np.ndarray]:
    """[CLS] + the first seq_len - 1 tokens of each text, padded. Shapes: tokens, attention_mask
    int32 [N, seq_len], label int32 [N]."""
    index = {name: i for i, name in enumerate(classes)}
    rows = [
        (text, index[label]) for text, label in zip(texts, labels, strict=True) if label in index
    ]
    tokens = np.full((len(rows), seq_len), PAD, np.int32)
    for i, (text, _) in enumerate(rows):
        ids = np.concatenate([[CLS], tokenizer.encode(text)[: seq_len - 1]])
        tokens[i, : len(ids)] = ids
    return {
        "tokens": tokens,
        "attention_mask": (tokens != PAD).astype(np.int32),
        "label": np.asarray([label for _, label in rows], np.int32),
    }


def finetune_task(config, tokenizer, pretrained=None) -> tuple[Task, list[str]]:
    """The docstring-classification task; `pretrained`: encoder params to start from (None:
    scratch). Returns the task and the class names (packages) in label order."""
    ft = config.finetune
    train_texts, train_labels = stdlib_docstrings.load_examples("train", ft.data.data_dir)
    classes = select_classes(
        train_labels, ft.data.num_classes, ft.data.min_train_docs,
        keys=("finetune.data.num_classes", "finetune.data.min_train_docs"),
    )  # fmt: skip
    eval_texts, eval_labels = stdlib_docstrings.load_examples(ft.data.eval_split, ft.data.data_dir)
    train = docstring_arrays(tokenizer, train_texts, train_labels, classes, ft.data.seq_len)
    test = docstring_arrays(tokenizer, eval_texts, eval_labels, classes, ft.data.seq_len)
    model_config = {
        **config.model.to_dict(),
        "pooler": True,
        "mlm_head": False,
        "num_classes": len(classes),
    }
    model = models.load(config.model_name).make(**model_config)
    warm_start = None  # the encoder from pre-training; the pooler and classifier start fresh
    if pretrained is not None:
        warm_start = from_pretrained(
            pretrained, select=lambda name: name in ENCODER or name.startswith("block_")
        )
    eval_batches = array_pipeline.eval_batches(test, batch_size=ft.data.batch_size)

    def loss_fn(params, model_state, batch, rng, train):
        out = model.apply(
            {"params": params, **model_state},
            batch["tokens"],
            attention_mask=batch["attention_mask"],
            train=train,
            rngs={"dropout": rng},
        )
        loss, metrics = classification_loss(
            out["class_logits"], batch["label"], batch.get("weights")
        )
        return loss, metrics, model_state

    def train_iterator(process_index, process_count):
        return array_pipeline.train_iterator(
            train,
            global_batch_size=ft.data.batch_size,
            seed=config.seed,
            process_index=process_index,
            process_count=process_count,
        )

    task = Task(
        model=model,
        init_inputs=(np.zeros((1, ft.data.seq_len), np.int32),),
        loss_fn=loss_fn,
        train_iterator=train_iterator,
        eval_batches=lambda: eval_batches,
        warm_start=warm_start,
    )
    logging.info(
        "Fine-tuning data: %d train / %d %s docstrings of %s.",
        len(train["label"]), len(test["label"]), ft.data.eval_split, classes,
    )  # fmt: skip
    return task, classes


def plot(workdir: pathlib.Path, path: pathlib.Path) -> None:
    """Left: masked-LM loss (train, eval) while pre-training; right: test accuracy while
    fine-tuning from the pre-trained encoder and from scratch."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, label in (("train/loss", "train"), ("eval/loss", "eval (fixed masks)")):
        left.plot(*metric_curve(workdir / "pretrain", key), marker="." if "eval" in key else None,
                  label=label)  # fmt: skip
    left.set(xlabel="step", ylabel="nats per masked token", title="Masked-LM pre-training")
    left.legend()
    for stage, label in (("finetune_pretrained", "pre-trained"), ("finetune_scratch", "scratch")):
        right.plot(*metric_curve(workdir / stage, "eval/accuracy"), marker="o", label=label)
    right.set(xlabel="step", ylabel="test accuracy", title="Docstring package classification")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(results: dict) -> str:
    pre = results["pretrain"]
    lines = [
        "| stage | steps | metric | value |",
        "|---|---:|---|---:|",
        f"| MLM pre-training | {pre['steps']} | eval loss (nats / masked token) | "
        f"{pre['eval_loss']:.3f} |",
        f"| | | eval accuracy of masked tokens | {pre['eval_accuracy']:.3f} |",
        f"| | | unigram baseline loss | {pre['unigram_loss']:.3f} |",
    ]
    for name, row in results["finetune"].items():
        lines.append(
            f"| fine-tune ({name}) | {row['steps']} | test accuracy ({len(results['classes'])} "
            f"classes) | {row['accuracy']:.3f} |"
        )
    return "\n".join(lines) + f"\n\nClasses: {', '.join(results['classes'])}.\n"


def main(config, workdir) -> dict:
    workdir = pathlib.Path(workdir)
    task, tokenizer = pretrain_task(config, workdir)
    pre = loop.train(config, workdir / "pretrain", task)
    pre_metrics = pre.metrics or {}
    params = jax.device_get(pre.state.params)
    results = {"pretrain": {}, "finetune": {}, "classes": []}
    for name, start in (("pretrained", params), ("scratch", None)):
        ft_task, classes = finetune_task(config, tokenizer, start)
        result = loop.train(config.finetune, workdir / f"finetune_{name}", ft_task)
        metrics = result.metrics or {}
        if "eval/accuracy" not in metrics:  # a finished run restored: its last evaluation
            metrics = last_record_with(workdir / f"finetune_{name}", "eval/accuracy")
        results["finetune"][name] = {
            "steps": result.step,
            "accuracy": metrics["eval/accuracy"],
            "loss": metrics["eval/loss"],
        }
        results["classes"] = classes
    if "eval/loss" not in pre_metrics:
        pre_metrics = last_record_with(workdir / "pretrain", "eval/loss")
    results["pretrain"] = {
        "steps": pre.step,
        "eval_loss": pre_metrics["eval/loss"],
        "eval_accuracy": pre_metrics["eval/accuracy"],
        "unigram_loss": pre_metrics["eval/unigram_loss"],
    }
    if write_results(workdir, results, markdown(results)):
        plot(workdir, workdir / "bert_mlm.png")
    return results


if __name__ == "__main__":
    entry.run(main)
