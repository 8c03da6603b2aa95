"""Train an image classifier on the embedded digits set: the training loop's second kind of task.

  python -m experiments.train_digits --config=experiments/configs/digits/mlp.py --workdir=runs/digits

Same loop, checkpoints, resume and metrics as the language model; only the model, loss and data
differ.
"""

import numpy as np

from experiments import entry
from research import models
from research.data import array_pipeline, digits
from research.train import loop
from research.train.losses import classification_loss
from research.train.task import Task


def build_task(config) -> Task:
    model = models.load(config.model_name).make(**config.model.to_dict())
    train = digits.load_arrays("train", config.data.data_dir)
    test = digits.load_arrays(config.data.eval_split, config.data.data_dir)
    eval_batches = array_pipeline.eval_batches(test, batch_size=config.data.batch_size)

    def loss_fn(params, model_state, batch, rng, train):
        logits = model.apply(
            {"params": params, **model_state}, batch["image"], train=train, rngs={"dropout": rng}
        )
        loss, metrics = classification_loss(logits, batch["label"], batch.get("weights"))
        return loss, metrics, model_state  # stateless: the model state passes through

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
        init_inputs=(np.zeros((1, train["image"].shape[1]), np.float32),),
        loss_fn=loss_fn,
        train_iterator=train_iterator,
        eval_batches=lambda: eval_batches,
        items_name="examples",
    )


def main(config, workdir) -> loop.Result:
    return loop.train(config, workdir, build_task(config))


if __name__ == "__main__":
    entry.run(main)
