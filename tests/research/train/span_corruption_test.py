"""Tests for research/train/span_corruption.py: a hand-worked example with a fixed span layout,
T5's published lengths (568 raw tokens -> 512 inputs, 114 targets), the random layout's exact
noise count and span count and its spread, reconstruction (interleaving inputs and targets gives
the original back), sentinel layouts and the loss's padding weights."""

import jax.numpy as jnp
import numpy as np
import pytest

from research.train import span_corruption as sc

EOS = 1


def test_hand_worked_example_with_a_fixed_layout():
    """Spans kept 2, noise 1, kept 3, noise 2, kept 1, noise 1 over tokens 10..19, T5 sentinels
    of a 101-token vocabulary (100, 99, 98): catches a sentinel per token instead of per span,
    sentinels in the wrong order, a missing EOS, or kept tokens leaking into the targets."""
    mask = sc.noise_mask([2, 3, 1], [1, 2, 1])
    assert mask.tolist() == [0, 0, 1, 0, 0, 0, 1, 1, 0, 1]
    inputs, targets = sc.corrupt(np.arange(10, 20), mask, sc.t5_sentinels(101, 3), EOS)
    assert inputs.tolist() == [10, 11, 100, 13, 14, 15, 99, 18, 98, EOS]
    assert targets.tolist() == [100, 12, 99, 16, 17, 98, 19, EOS]
    # A layout that starts with noise (kept span 0 empty) and ends with kept tokens.
    mask = np.array([1, 1, 0, 0, 1, 0], bool)
    inputs, targets = sc.corrupt(np.arange(6), mask, [5, 6], EOS)
    assert inputs.tolist() == [5, 2, 3, 6, 5, EOS]
    assert targets.tolist() == [5, 0, 1, 6, 4, EOS]


def test_counts_follow_t5_rounding_and_reproduce_its_published_lengths():
    assert sc.span_counts(10) == (2, 1)  # round(1.5) = 2 noise tokens, round(2/3) = 1 span
    assert sc.span_counts(128) == (19, 6)
    # t5.data: 568 raw tokens give inputs of 512 and targets of 114 (EOS included).
    assert sc.corrupted_lengths(568) == (512, 114)
    assert sc.span_counts(2) == (1, 1)  # at least one noise and one kept token


def test_random_layout_statistics():
    """Every draw has exactly round(0.15 T) noise tokens in exactly round(num_noise / 3)
    non-empty spans separated by kept tokens, starting with kept and ending with noise tokens
    (t5.data's layout); with random_roll every position is noise with probability 19/128."""
    rng = np.random.default_rng(0)
    length, draws = 128, 2000
    masks = np.stack([sc.random_noise_mask(length, rng) for _ in range(draws)])
    assert np.all(masks.sum(axis=1) == 19)
    starts = masks & ~np.concatenate([np.zeros((draws, 1), bool), masks[:, :-1]], axis=1)
    assert np.all(starts.sum(axis=1) == 6)  # spans never touch: kept spans are non-empty
    assert not masks[:, 0].any() and masks[:, -1].all()
    assert masks.sum() / starts.sum() == pytest.approx(19 / 6)  # mean span length
    assert masks[:, 40:90].mean(axis=0).min() > 0.11  # the middle: spread, not clumped
    rolled = np.stack([sc.random_noise_mask(length, rng, random_roll=True) for _ in range(draws)])
    assert np.all(rolled.sum(axis=1) == 19)
    frequency = rolled.mean(axis=0)  # binomial std ~0.008 per position
    assert frequency.min() > 0.11 and frequency.max() < 0.19


def test_interleaving_inputs_and_targets_reconstructs_the_original():
    rng = np.random.default_rng(1)
    sequences = rng.integers(40, 300, (50, 57))
    batch = sc.corrupt_batch(sequences, rng, sc.project_sentinels(), EOS)
    assert batch["inputs"].shape == (50, sc.corrupted_lengths(57)[0])
    assert batch["targets"].shape == (50, sc.corrupted_lengths(57)[1])
    for row, inputs, targets in zip(sequences, batch["inputs"], batch["targets"], strict=True):
        np.testing.assert_array_equal(
            sc.uncorrupt(inputs, targets, sc.project_sentinels(), EOS), row
        )
    assert len({tuple(r) for r in batch["inputs"][:, :10]}) > 40  # a fresh layout per row


def test_sentinel_layouts():
    assert sc.t5_sentinels(32128, 3).tolist() == [32127, 32126, 32125]  # <extra_id_0> on top
    assert sc.project_sentinels(3).tolist() == [5, 6, 7]  # special_tokens: after pad..mask


def test_loss_weights_padding_and_rows():
    logits = jnp.log(jnp.array([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [1 / 3, 1 / 3, 1 / 3]]]))
    targets = jnp.array([[1, 1, 0]])  # the last position is padding (pad_id 0)
    loss, metrics = sc.loss(logits, targets, pad_id=0)
    assert float(loss) == pytest.approx((np.log(4) + np.log(1 / 0.8)) / 2, rel=1e-6)
    assert float(metrics["loss"][1]) == 2.0
    _, metrics = sc.loss(logits, targets, pad_id=0, weights=jnp.array([0.0]))
    assert float(metrics["loss"][1]) == 0.0


def test_errors():
    with pytest.raises(ValueError, match="3 noise spans need as many sentinels, got 2"):
        sc.corrupt(np.arange(6), [1, 0, 1, 0, 1, 0], [5, 6], EOS)
    with pytest.raises(ValueError, match="sequences of >= 2 tokens"):
        sc.span_counts(1)
    with pytest.raises(ValueError, match="noise_density=1.5 must lie in"):
        sc.span_counts(10, noise_density=1.5)
    with pytest.raises(ValueError, match="tokens and mask must be two"):
        sc.corrupt(np.arange(6), [1, 0], [5], EOS)
