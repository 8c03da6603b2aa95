"""Tests for research/data/digit_strings.py: reversal targets, determinism by seed, and held-out
strings that never occur in training."""

import numpy as np
import pytest

from research.data import digit_strings as ds


def _strings(arrays) -> set[str]:
    return {ds.decode(row) for row in arrays["source"]}


def test_targets_are_the_reversed_digits_then_eos_then_padding():
    arrays = ds.make_arrays(np.array([[0, 4, 5, 1], [7, 0, 0, 0]]), np.array([4, 1]))
    np.testing.assert_array_equal(arrays["source"], [[3, 7, 8, 4], [10, 0, 0, 0]])
    np.testing.assert_array_equal(arrays["target"], [[4, 8, 7, 3, 2], [10, 2, 0, 0, 0]])
    np.testing.assert_array_equal(arrays["source_lengths"], [4, 1])
    assert ds.decode(arrays["source"][0]) == "0451" and ds.decode(arrays["target"][0]) == "1540"


@pytest.mark.parametrize("split", ds.SPLITS)
def test_arrays_are_well_formed_reversals(split):
    a = ds.load_arrays(split, 500, max_len=6, seed=3)
    assert a["source"].shape == (500, 6) and a["target"].shape == (500, 7)
    assert {k: v.dtype for k, v in a.items()} == {k: np.dtype(np.int32) for k in a}
    assert set(np.unique(a["source_lengths"])) == set(range(1, 7))
    for source, n, target in zip(a["source"], a["source_lengths"], a["target"], strict=True):
        assert np.all(source[:n] >= ds.DIGIT_OFFSET) and np.all(source[n:] == ds.PAD)
        np.testing.assert_array_equal(target[:n], source[:n][::-1])
        assert target[n] == ds.EOS and np.all(target[n + 1 :] == ds.PAD)


def test_same_seed_same_arrays_other_seed_other_arrays():
    """Catches data drawn from global or unseeded randomness (runs would not be reproducible)."""
    for split in ds.SPLITS:
        one = ds.load_arrays(split, 300, max_len=8, seed=5)
        two = ds.load_arrays(split, 300, max_len=8, seed=5)
        other = ds.load_arrays(split, 300, max_len=8, seed=6)
        for key in one:
            np.testing.assert_array_equal(one[key], two[key])
        assert not np.array_equal(one["source"], other["source"])


def test_held_out_strings_are_distinct_and_never_in_training_for_any_seed():
    """Catches a held-out score measured on strings the model was trained on."""
    held_out = ds.load_arrays("held_out", 1000, max_len=6, seed=0)
    assert len(_strings(held_out)) == 1000  # distinct
    for seed in (0, 1, 2):
        train = ds.load_arrays("train", 20_000, max_len=6, seed=seed)
        assert not _strings(train) & _strings(held_out)
    # Short lengths have few strings; training keeps drawing them (with repetition).
    assert np.mean(train["source_lengths"] == 1) > 0.1


def test_held_out_fraction_is_about_one_in_eight():
    rng = np.random.default_rng(0)
    digits, lengths = rng.integers(0, 10, size=(40_000, 9)), np.full(40_000, 9)
    assert abs(ds.is_held_out(digits, lengths).mean() - 1 / ds.HELD_OUT_EVERY) < 0.01


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="Unknown split 'test'; choose one of train, held_out"):
        ds.load_arrays("test", 10, max_len=4)
    with pytest.raises(ValueError, match="more than half of the about 13 there are"):
        ds.load_arrays("held_out", 10, max_len=2)
    with pytest.raises(ValueError, match="1 <= min_len <= max_len <= 16"):
        ds.load_arrays("train", 10, max_len=20)
