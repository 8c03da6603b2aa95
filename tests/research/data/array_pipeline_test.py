import json

import numpy as np
import pytest

from research.data import array_pipeline


def make_arrays(n=10):
    x = np.arange(n)
    return {"x": x, "y": np.stack([2 * x, 3 * x], axis=1).astype(np.float32)}


def take(it, count):
    return [next(it) for _ in range(count)]


def test_epoch_rows_are_slices_of_the_seeded_epoch_permutation():
    for step in range(6):
        epoch, rows = array_pipeline.epoch_rows(step, num_examples=10, global_batch_size=4, seed=3)
        perm = np.random.default_rng([3, step // 2]).permutation(10)
        assert epoch == step // 2
        np.testing.assert_array_equal(rows, perm[(step % 2) * 4 : (step % 2 + 1) * 4])


def test_each_epoch_is_distinct_examples_with_aligned_keys():
    it = array_pipeline.train_iterator(make_arrays(), global_batch_size=4, seed=0)
    epochs = []
    for _ in range(5):
        a, b = take(it, 2)  # 10 // 4 = 2 batches per epoch, remainder dropped
        rows = np.concatenate([a["x"], b["x"]])
        assert len(set(rows.tolist())) == 8
        for batch in (a, b):
            np.testing.assert_array_equal(batch["y"], np.stack([2 * batch["x"], 3 * batch["x"]], 1))
        epochs.append(rows)
    assert len({tuple(rows) for rows in epochs}) == 5  # a fresh order every epoch
    assert set(np.concatenate(epochs).tolist()) == set(range(10))


def test_resume_from_state_continues_exactly():
    arrays = make_arrays(37)
    uninterrupted = take(array_pipeline.train_iterator(arrays, global_batch_size=4, seed=1), 12)
    it = array_pipeline.train_iterator(arrays, global_batch_size=4, seed=1)
    take(it, 7)
    state = json.loads(json.dumps(it.get_state()))
    resumed = array_pipeline.train_iterator(arrays, global_batch_size=4, seed=1)
    resumed.set_state(state)
    for got, want in zip(take(resumed, 5), uninterrupted[7:], strict=True):
        for key in arrays:
            assert np.array_equal(got[key], want[key])


def test_processes_split_the_same_global_batch():
    arrays = make_arrays(50)
    whole = take(array_pipeline.train_iterator(arrays, global_batch_size=6, seed=2), 10)
    parts = [
        take(
            array_pipeline.train_iterator(
                arrays, global_batch_size=6, seed=2, process_index=p, process_count=3
            ),
            10,
        )
        for p in range(3)
    ]
    for step in range(10):
        joined = np.concatenate([parts[p][step]["x"] for p in range(3)])
        np.testing.assert_array_equal(joined, whole[step]["x"])
        assert parts[0][step]["x"].shape == (2,)


def test_eval_batches_cover_every_example_once_with_weights():
    arrays = make_arrays(10)
    batches = array_pipeline.eval_batches(arrays, batch_size=4)
    assert [b["x"].shape for b in batches] == [(4,)] * 3
    weights = np.concatenate([b["weights"] for b in batches])
    np.testing.assert_array_equal(weights, [1] * 10 + [0] * 2)
    assert weights.dtype == np.float32
    xs = np.concatenate([b["x"] for b in batches])
    np.testing.assert_array_equal(xs, list(range(10)) + [0, 0])
    np.testing.assert_array_equal(batches[-1]["y"][2:], np.zeros((2, 2)))


def test_errors_speak_to_the_user():
    with pytest.raises(ValueError, match="3 examples cannot fill one global batch of 4"):
        array_pipeline.train_iterator(make_arrays(3), global_batch_size=4, seed=0)
    with pytest.raises(ValueError, match="multiple of process_count=4"):
        array_pipeline.train_iterator(
            make_arrays(), global_batch_size=6, seed=0, process_index=0, process_count=4
        )
    with pytest.raises(ValueError, match="one leading size"):
        array_pipeline.train_iterator(
            {"a": np.zeros(3), "b": np.zeros(4)}, global_batch_size=1, seed=0
        )
    with pytest.raises(ValueError, match="non-negative integer"):
        array_pipeline.train_iterator(make_arrays(), global_batch_size=2, seed=-1)
