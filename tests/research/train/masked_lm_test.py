"""Tests for research/train/masked_lm.py: a hand-worked corruption, the 15% / 80-10-10 statistics
over many draws, padding and special ids never selected, and the loss over selected positions only."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.train import masked_lm

MASK, PAD, CLS = 4, 0, 1


def test_corrupt_by_hand():
    """Each uniform draw lands in one case; catches swapped cases or a selection of ineligibles."""
    tokens = jnp.array([[10, 11, 12, 13, 14, 15]])
    eligible = jnp.array([[True, True, True, True, True, False]])
    select_u = jnp.array([[0.10, 0.05, 0.14, 0.149, 0.50, 0.0]])  # last: selected but ineligible
    action_u = jnp.array([[0.79, 0.80, 0.89, 0.95, 0.0, 0.0]])
    random_ids = jnp.array([[20, 21, 22, 23, 24, 25]])
    inputs, targets, weights = masked_lm.corrupt(
        tokens, eligible, select_u, action_u, random_ids, mask_id=MASK
    )
    # 0: mask (0.79 < 0.8); 1: random (0.8 in [0.8, 0.9)); 2: random; 3: unchanged (0.95);
    # 4: not selected (0.5 >= 0.15); 5: not eligible.
    np.testing.assert_array_equal(inputs, [[MASK, 21, 22, 13, 14, 15]])
    np.testing.assert_array_equal(targets, tokens)
    np.testing.assert_array_equal(weights, [[1, 1, 1, 1, 0, 0]])


def test_mask_tokens_with_a_fixed_rng_is_corrupt_of_its_draws():
    """The rng path: same key, same result; its draws composed by `corrupt` by hand."""
    rng = jax.random.key(7)
    tokens = jnp.array([[CLS, 30, 31, 32, 33, 34, 35, 36, 37, PAD]])
    valid = tokens != PAD
    kwargs = dict(mask_id=MASK, vocab_size=40, special_ids=(PAD, CLS), valid=valid, rate=0.5)
    inputs, targets, weights = masked_lm.mask_tokens(rng, tokens, **kwargs)
    again = masked_lm.mask_tokens(rng, tokens, **kwargs)
    np.testing.assert_array_equal(inputs, again[0])
    select_rng, action_rng, random_rng = jax.random.split(rng, 3)
    select_u = np.asarray(jax.random.uniform(select_rng, tokens.shape))
    action_u = np.asarray(jax.random.uniform(action_rng, tokens.shape))
    candidates = np.setdiff1d(np.arange(40), [MASK, PAD, CLS])
    random_ids = candidates[np.asarray(jax.random.randint(random_rng, tokens.shape, 0, 37))]
    expected = np.asarray(tokens).copy()
    chosen = (select_u < 0.5) & np.asarray(valid) & (np.asarray(tokens) != CLS)
    for t in np.flatnonzero(chosen[0]):
        a = action_u[0, t]
        expected[0, t] = MASK if a < 0.8 else random_ids[0, t] if a < 0.9 else expected[0, t]
    np.testing.assert_array_equal(inputs, expected)
    np.testing.assert_array_equal(weights[0], chosen[0].astype(np.float32))
    np.testing.assert_array_equal(targets, tokens)
    assert weights.sum() > 0


def test_statistics_over_many_draws():
    """15% of eligible tokens selected, split 80/10/10; padding and special ids never selected.

    Each selected position's case is read from the action draw (as `mask_tokens` splits its key),
    so a random replacement that happens to be [MASK] (or a special id) is not counted as masked:
    with 36 candidate ids and ~600 replacements such a draw would show. Catches a rate applied
    twice, 80/10/10 as nested fractions of the wrong case, masking of padding, and the mask id
    among the random replacements."""
    vocab, batch, length = 40, 64, 512
    rng = np.random.default_rng(0)
    tokens = rng.integers(5, vocab, (batch, length))
    lengths = rng.integers(length // 4, length, batch)
    valid = np.arange(length)[None] < lengths[:, None]
    tokens = np.where(valid, tokens, PAD)
    tokens[:, 0] = CLS
    key = jax.random.key(0)
    masker = jax.jit(
        lambda key: masked_lm.mask_tokens(
            key, tokens, mask_id=MASK, vocab_size=vocab, special_ids=(PAD, CLS, 2), valid=valid
        )
    )
    inputs, _, weights = (np.asarray(x) for x in masker(key))
    eligible = valid & (tokens != CLS)
    selected = weights > 0
    assert not selected[~eligible].any()  # padding and [CLS] never selected
    np.testing.assert_array_equal(inputs[~selected], tokens[~selected])
    n = eligible.sum()  # ~ 20K eligible: the binomial std of the rate is ~0.0025
    assert abs(selected.sum() / n - 0.15) < 0.01
    action_u = np.asarray(jax.random.uniform(jax.random.split(key, 3)[1], tokens.shape))
    masked = selected & (action_u < 0.8)
    random = selected & (action_u >= 0.8) & (action_u < 0.9)
    unchanged = selected & (action_u >= 0.9)
    np.testing.assert_array_equal(inputs[masked], MASK)
    np.testing.assert_array_equal(inputs[unchanged], tokens[unchanged])
    assert not np.isin(inputs[random], [PAD, CLS, 2, MASK]).any()  # never [MASK] or special
    # The split measured on the outputs: [MASK] exactly at the masked case, replacements elsewhere.
    np.testing.assert_array_equal(selected & (inputs == MASK), masked)
    k = selected.sum()  # ~ 3K selected: std of the fractions <= 0.008
    assert abs(masked.sum() / k - 0.8) < 0.03
    assert abs(random.sum() / k - 0.1) < 0.025
    assert abs(unchanged.sum() / k - 0.1) < 0.025
    changed = random & (inputs != tokens)  # a replacement may draw the token itself (1 in 36)
    assert abs(changed.sum() / random.sum() - 35 / 36) < 0.03


def test_random_replacements_are_never_the_mask_or_a_special_id():
    """Every selected token replaced at random (mask_fraction 0): the replacements are exactly the
    non-special ids, each about equally often, and never [MASK] (a draw over the whole vocabulary,
    or over all but the special ids, would put [MASK] in ~1 of 5 replacements here)."""
    tokens = np.tile(np.array([[3, 5, 6, 7]]), (64, 64))
    kwargs = dict(mask_id=MASK, vocab_size=8, special_ids=(PAD, CLS, 2), rate=1.0)
    inputs, _, weights = masked_lm.mask_tokens(
        jax.random.key(1), tokens, mask_fraction=0.0, random_fraction=1.0, **kwargs
    )
    inputs = np.asarray(inputs)
    assert np.all(np.asarray(weights) == 1)
    ids, counts = np.unique(inputs, return_counts=True)
    np.testing.assert_array_equal(ids, [3, 5, 6, 7])  # the 4 candidates, [MASK] (4) never
    np.testing.assert_allclose(counts / inputs.size, 0.25, atol=0.02)  # 16K draws: std 0.0034


def test_rate_zero_and_one():
    tokens = jnp.array([[CLS, 7, 8, PAD]])
    kwargs = dict(mask_id=MASK, vocab_size=10, special_ids=(PAD, CLS))
    _, _, none = masked_lm.mask_tokens(jax.random.key(0), tokens, rate=0.0, **kwargs)
    _, _, every = masked_lm.mask_tokens(jax.random.key(0), tokens, rate=1.0, **kwargs)
    np.testing.assert_array_equal(none, 0)
    np.testing.assert_array_equal(every, [[0, 1, 1, 0]])


def test_loss_counts_selected_positions_only():
    logits = jnp.log(jnp.array([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [1 / 3, 1 / 3, 1 / 3]]]))
    targets = jnp.array([[0, 1, 2]])
    weights = jnp.array([[1.0, 0.0, 1.0]])
    loss, metrics = masked_lm.masked_lm_loss(logits, targets, weights)
    expected = (np.log(2) + np.log(3)) / 2  # position 1 (weight 0) does not count
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    np.testing.assert_allclose(metrics["loss"][0], 2 * expected, rtol=1e-6)
    assert float(metrics["loss"][1]) == 2.0
    assert tuple(map(float, metrics["accuracy"])) == (1.0, 2.0)  # argmax ties pick id 0
    empty_loss, empty = masked_lm.masked_lm_loss(logits, targets, jnp.zeros_like(weights))
    assert float(empty_loss) == 0.0 and float(empty["loss"][1]) == 0.0


def test_bad_arguments_are_named():
    tokens = jnp.zeros((1, 4), jnp.int32)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="rate=1.5"):
        masked_lm.mask_tokens(key, tokens, mask_id=4, vocab_size=10, rate=1.5)
    with pytest.raises(ValueError, match="mask_id=10 is outside"):
        masked_lm.mask_tokens(key, tokens, mask_id=10, vocab_size=10)
    with pytest.raises(ValueError, match="sum of at most 1"):
        masked_lm.mask_tokens(key, tokens, mask_id=4, vocab_size=10, mask_fraction=0.95)
    with pytest.raises(ValueError, match=r"int\[B,T\]"):
        masked_lm.mask_tokens(key, jnp.zeros(4, jnp.int32), mask_id=4, vocab_size=10)
