"""Train an image classifier on the embedded digits set: the training loop's second kind of task.

  python -m experiments.train_digits --config=experiments/configs/digits/mlp.py --workdir=runs/digits

Same loop, checkpoints, resume and metrics as the language model; only the model, loss and data
differ.
"""

import numpy as np

from experiments import entry
from research import models
from research.data import digits
from research.tasks.arrays import array_task
from research.train import loop
from research.train.losses import classification_loss
from research.train.task import Task


def build_task(config) -> Task:
    model = models.load(config.model_name).make(**config.model.to_dict())
    train = digits.load_arrays("train", config.data.data_dir)
    test = digits.load_arrays(config.data.eval_split, config.data.data_dir)

    def loss_fn(params, model_state, batch, rng, train):
        logits = model.apply(
            {"params": params, **model_state}, batch["image"], train=train, rngs={"dropout": rng}
        )
        loss, metrics = classification_loss(logits, batch["label"], batch.get("weights"))
        return loss, metrics, model_state  # stateless: the model state passes through

    return array_task(
        model, loss_fn, train, test, batch_size=config.data.batch_size, seed=config.seed,
        init_inputs=(np.zeros((1, train["image"].shape[1]), np.float32),), items_name="examples",
    )  # fmt: skip


def main(config, workdir) -> loop.Result:
    return loop.train(config, workdir, build_task(config))


if __name__ == "__main__":
    entry.run(main)
