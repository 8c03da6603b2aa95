"""array_task: the training batches are the array pipeline's (same seed, same rows), evaluation
covers the held-out set once with zero-weight padding, and init_inputs default to first rows."""

import flax.linen as nn
import numpy as np

from research.data import array_pipeline
from research.tasks.arrays import array_task


def _loss(params, model_state, batch, rng, train):  # never called here
    raise AssertionError("not used")


def test_batches_eval_and_init_inputs():
    train = {"x": np.arange(20, dtype=np.float32).reshape(10, 2), "y": np.arange(10)}
    held_out = {"x": np.ones((5, 2), np.float32), "y": np.arange(5)}
    task = array_task(nn.Dense(3), _loss, train, held_out, batch_size=4, seed=7, eval_batch_size=2)
    # Training batches: exactly the pipeline's for the same seed, this process's half of each.
    ours = task.train_iterator(1, 2)
    reference = array_pipeline.train_iterator(
        train, global_batch_size=4, seed=7, process_index=1, process_count=2
    )
    for _ in range(3):
        a, b = next(ours), next(reference)
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["y"], b["y"])
    # Evaluation: 5 examples in batches of 2, the last padded with one zero-weight row.
    batches = list(task.eval_batches())
    assert [b["weights"].tolist() for b in batches] == [[1, 1], [1, 1], [1, 0]]
    assert [y for b in batches for y in b["y"][b["weights"] > 0].tolist()] == [0, 1, 2, 3, 4]
    # init_inputs: the first row of every train array, in key order.
    assert [a.tolist() for a in task.init_inputs] == [[[0.0, 1.0]], [0]]


def test_no_held_out_means_no_evaluation_and_task_fields_pass_through():
    train = {"x": np.zeros((8, 2), np.float32)}
    task = array_task(
        nn.Dense(3), _loss, train, batch_size=4, seed=0, items_per_example=5, items_name="tokens"
    )
    assert task.eval_batches is None
    assert (task.items_per_example, task.items_name) == (5, "tokens")
