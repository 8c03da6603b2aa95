import json

import numpy as np
import pytest

from research.data import lm_pipeline

VOCAB = 4096


def take(it, count):
    return [next(it) for _ in range(count)]


def test_windows_are_exact_slices_at_the_epoch_offset():
    tokens = np.arange(101, dtype=np.int32)  # token value == position
    seq_len, batch = 10, 3  # 101 // 10 - 1 = 9 windows, 3 batches per epoch
    it = lm_pipeline.train_iterator(
        tokens, seq_len=seq_len, global_batch_size=batch, seed=5, vocab_size=VOCAB
    )
    offsets = []
    for epoch in range(6):
        offset = lm_pipeline.epoch_offset(5, epoch, seq_len)
        assert 0 <= offset < seq_len
        offsets.append(offset)
        starts = []
        for batch_ in take(it, 3):
            assert batch_["inputs"].dtype == np.int32 and batch_["inputs"].shape == (3, seq_len)
            for row_in, row_tg in zip(batch_["inputs"], batch_["targets"], strict=True):
                np.testing.assert_array_equal(row_in, np.arange(row_in[0], row_in[0] + seq_len))
                np.testing.assert_array_equal(row_tg, row_in + 1)
                starts.append(int(row_in[0]))
        # Every window of the epoch exactly once, at the epoch's offset.
        assert sorted(starts) == [offset + seq_len * j for j in range(9)]
    assert len(set(offsets)) > 1  # window boundaries move between epochs


def test_targets_are_inputs_shifted_by_one():
    tokens = np.random.default_rng(0).integers(257, size=5000).astype(np.int32)
    it = lm_pipeline.train_iterator(tokens, seq_len=16, global_batch_size=8, seed=0, vocab_size=257)
    for batch in take(it, 4):
        np.testing.assert_array_equal(batch["targets"][:, :-1], batch["inputs"][:, 1:])


def test_resume_from_state_continues_exactly():
    tokens = np.random.default_rng(1).integers(257, size=3000).astype(np.int32)
    kwargs = dict(seq_len=32, global_batch_size=8, seed=7, vocab_size=257)
    uninterrupted = take(lm_pipeline.train_iterator(tokens, **kwargs), 12)  # crosses epochs
    it = lm_pipeline.train_iterator(tokens, **kwargs)
    take(it, 7)
    state = json.loads(json.dumps(it.get_state()))
    resumed = lm_pipeline.train_iterator(tokens, **kwargs)
    resumed.set_state(state)
    for got, want in zip(take(resumed, 5), uninterrupted[7:], strict=True):
        assert np.array_equal(got["inputs"], want["inputs"])
        assert np.array_equal(got["targets"], want["targets"])
    assert not np.array_equal(uninterrupted[0]["inputs"], uninterrupted[11]["inputs"])


def test_processes_split_the_same_global_batch():
    tokens = np.arange(2000, dtype=np.int32)
    kwargs = dict(seq_len=8, global_batch_size=4, seed=3, vocab_size=VOCAB)
    whole = take(lm_pipeline.train_iterator(tokens, **kwargs), 6)
    halves = [
        take(lm_pipeline.train_iterator(tokens, process_index=p, process_count=2, **kwargs), 6)
        for p in range(2)
    ]
    for step in range(6):
        for key in ("inputs", "targets"):
            joined = np.concatenate([halves[0][step][key], halves[1][step][key]])
            np.testing.assert_array_equal(joined, whole[step][key])
        assert halves[1][step]["inputs"].shape == (2, 8)


def test_eval_batches_cover_every_target_once():
    tokens = np.arange(23, dtype=np.int32)
    batches = lm_pipeline.eval_batches(tokens, seq_len=5, batch_size=2, vocab_size=VOCAB)
    assert len(batches) == 3  # ceil(22 / 5) = 5 windows -> 3 batches of 2 rows
    for batch in batches:
        assert {key: value.shape for key, value in batch.items()} == {
            "inputs": (2, 5),
            "targets": (2, 5),
            "weights": (2, 5),
        }
    inputs, targets, weights = (
        np.concatenate([b[key] for b in batches]) for key in ("inputs", "targets", "weights")
    )
    np.testing.assert_array_equal(inputs[0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(targets[4], [21, 22, 0, 0, 0])
    np.testing.assert_array_equal(weights[4], [1, 1, 0, 0, 0])
    np.testing.assert_array_equal(weights[5], np.zeros(5))  # a whole padding row
    real = weights.reshape(-1) == 1
    np.testing.assert_array_equal(inputs.reshape(-1)[real], tokens[:-1])
    np.testing.assert_array_equal(targets.reshape(-1)[real], tokens[1:])
    assert weights.sum() == len(tokens) - 1 and weights.dtype == np.float32


def test_eval_batches_exact_fit_has_no_padding():
    batches = lm_pipeline.eval_batches(np.arange(9), seq_len=4, batch_size=2, vocab_size=VOCAB)
    assert len(batches) == 1 and batches[0]["weights"].sum() == 8


def test_check_tokens_names_the_first_bad_id():
    with pytest.raises(
        ValueError, match=r"token id 300 at position 2 is outside \[0, vocab_size=257\)"
    ):
        lm_pipeline.check_tokens(np.array([1, 2, 300, -1]), 257)
    lm_pipeline.check_tokens(np.array([0, 256]), 257)
    with pytest.raises(ValueError, match="token id 70000 at position 0"):  # not wrapped by a cast
        lm_pipeline.eval_batches(np.array([70000, 1]), seq_len=4, batch_size=1, vocab_size=257)


def test_errors_speak_to_the_user():
    with pytest.raises(
        ValueError, match=r"100 tokens make 9 windows of seq_len=10.*global_batch_size=16"
    ):
        lm_pipeline.train_iterator(
            np.arange(100), seq_len=10, global_batch_size=16, seed=0, vocab_size=VOCAB
        )
    with pytest.raises(ValueError, match="multiple of process_count=2"):
        lm_pipeline.train_iterator(
            np.arange(100),
            seq_len=4,
            global_batch_size=3,
            seed=0,
            vocab_size=VOCAB,
            process_count=2,
        )
    with pytest.raises(ValueError, match="at least 2 tokens"):
        lm_pipeline.eval_batches(np.arange(1), seq_len=4, batch_size=1, vocab_size=VOCAB)
