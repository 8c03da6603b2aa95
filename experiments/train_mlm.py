"""Pre-train tiny BERT with the masked-LM objective, then fine-tune it to classify docstrings.

  python -m experiments.train_mlm --config=experiments/configs/bert/mlm.py --workdir=runs/mlm

Three stages of `experiments.stages` (each in its own sub-workdir, resumable; a finished stage is
restored, not retrained; a preempted one stops the experiment): `pretrain/` (masked LM on
pydoc_topics, `research.tasks.mlm`), then `finetune_pretrained/` and `finetune_scratch/`: a
sequence classifier on the pooled [CLS] vector over the most frequent packages of
stdlib_docstrings (`research.tasks.docstring_packages`), from the pre-trained encoder and from
scratch. Writes results.json, results.md and bert_mlm.png into the workdir.
"""

import pathlib

import numpy as np
from absl import logging

from experiments import entry, stages
from experiments.results import finetune_report
from research import models
from research.tasks.arrays import array_task
from research.tasks.docstring_packages import DocstringPackages, docstring_packages
from research.tasks.mlm import CLS, PAD, pretrain_task
from research.train.losses import classification_loss
from research.train.task import Task
from research.train.warm_start import from_pretrained

ENCODER = ("embed", "pos_embed", "type_embed", "embed_ln")  # + block_*: what pre-training gives


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


def finetune_task(config, tokenizer, docs: DocstringPackages, pretrained=None) -> Task:
    """The docstring classifier on `docs`; `pretrained`: encoder params to start from (the pooler
    and classifier start fresh), None: every weight fresh."""
    data = config.finetune.data
    train, test = (
        docstring_arrays(tokenizer, texts, labels, docs.classes, data.seq_len)
        for texts, labels in (docs.train, docs.held_out)
    )
    model_config = {
        **config.model.to_dict(),
        "pooler": True,
        "mlm_head": False,
        "num_classes": len(docs.classes),
    }
    model = models.load(config.model_name).make(**model_config)

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

    logging.info(
        "Fine-tuning data: %d train / %d %s docstrings of %s.",
        len(train["label"]), len(test["label"]), data.eval_split, docs.classes,
    )  # fmt: skip
    encoder = lambda name: name in ENCODER or name.startswith("block_")  # noqa: E731
    return array_task(
        model, loss_fn, train, test, batch_size=data.batch_size, seed=config.seed,
        init_inputs=(np.zeros((1, data.seq_len), np.int32),),
        warm_start=None if pretrained is None else from_pretrained(pretrained, select=encoder),
    )  # fmt: skip


def main(config, workdir) -> dict:
    workdir = pathlib.Path(workdir)
    task, tokenizer = pretrain_task(config, workdir)
    pre = stages.run("pretrain", config, workdir, task)
    docs = docstring_packages(config.finetune)
    fine = stages.finetune_from(
        pre, config.finetune, workdir, lambda params: finetune_task(config, tokenizer, docs, params)
    )
    return finetune_report(
        workdir, pre, fine, docs.classes, pretrain="MLM pre-training",
        rows={"eval_loss": ("eval/loss", "eval loss (nats / masked token)"),
              "eval_accuracy": ("eval/accuracy", "eval accuracy of masked tokens"),
              "unigram_loss": ("eval/unigram_loss", "unigram baseline loss")},
        metric=("accuracy", "test accuracy"),
        figure=("bert_mlm.png", "nats per masked token", "eval (fixed masks)",
                "Docstring package classification"),
    )  # fmt: skip


if __name__ == "__main__":
    entry.run(main)
