"""The adding problem and the copy task: the target a network must learn, and where the markers go."""

import numpy as np
import pytest

from research.data.memory_tasks import adding_problem, copy_task


def test_target_is_exactly_the_sum_of_the_two_marked_values():
    # Catches a target read from the wrong steps (or one marker's value counted twice).
    data = adding_problem(500, 37, seed=3)
    values, markers = data["x"][..., 0], data["x"][..., 1]
    np.testing.assert_array_equal(data["y"], (values * markers).sum(axis=1))
    assert data["x"].dtype == data["y"].dtype == np.float32
    assert data["x"].shape == (500, 37, 2) and data["y"].shape == (500,)


@pytest.mark.parametrize("length", [2, 3, 10, 201])
def test_exactly_two_markers_one_in_each_half(length):
    # Catches two markers drawn on the same step (one marker, target 2x a value) and a second
    # marker allowed into the first half (a shorter gap than the length promises).
    markers = adding_problem(2000, length, seed=0)["x"][..., 1]
    assert set(np.unique(markers)) <= {0.0, 1.0}
    np.testing.assert_array_equal(markers.sum(axis=1), 2)
    half = length // 2
    np.testing.assert_array_equal(markers[:, :half].sum(axis=1), 1)
    np.testing.assert_array_equal(markers[:, half:].sum(axis=1), 1)
    # Every step of each half is used (uniform placement, not a fixed step).
    assert np.all(markers.sum(axis=0) > 0)


def test_values_are_uniform_and_the_mean_baseline_is_one_sixth():
    data = adding_problem(20000, 20, seed=1)
    values = data["x"][..., 0]
    assert values.min() >= 0 and values.max() < 1
    assert abs(np.mean((data["y"] - 1.0) ** 2) - 1 / 6) < 0.005  # Var(U1 + U2) = 1/6


def test_same_seed_same_data_other_seed_other_data():
    a, b = adding_problem(8, 12, seed=(0, 12, 1)), adding_problem(8, 12, seed=(0, 12, 1))
    c = adding_problem(8, 12, seed=(0, 12, 2))
    np.testing.assert_array_equal(a["x"], b["x"])
    np.testing.assert_array_equal(a["y"], b["y"])
    assert not np.array_equal(a["x"], c["x"])


@pytest.mark.parametrize("length", [1, 0, -5])
def test_too_short_a_sequence_is_refused(length):
    with pytest.raises(
        ValueError, match=rf"needs length >= 2 to place two markers, got {length}\."
    ):
        adding_problem(4, length)


def test_copy_task_target_repeats_the_symbols_after_the_delimiter():
    data = copy_task(50, 4, 6, num_symbols=5, seed=2)
    tokens, target = data["tokens"], data["target"]
    assert tokens.shape == target.shape == (50, 14)
    symbols = tokens[:, :4]
    assert symbols.min() >= 1 and symbols.max() <= 5
    np.testing.assert_array_equal(tokens[:, 4:10], 0)
    np.testing.assert_array_equal(tokens[:, 10], 6)  # the delimiter, num_symbols + 1
    np.testing.assert_array_equal(target[:, :10], 0)
    np.testing.assert_array_equal(target[:, 10:], symbols)
    np.testing.assert_array_equal(copy_task(50, 4, 6, num_symbols=5, seed=2)["tokens"], tokens)


def test_copy_task_refuses_an_empty_copy():
    with pytest.raises(ValueError, match=r"num_copy >= 1"):
        copy_task(4, 0, 3)
