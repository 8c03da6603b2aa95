"""Tests for research/anomaly/matrix_profile.py: against stumpy.stump and a brute-force loop."""

import numpy as np
import pytest

from research.anomaly import matrix_profile as mp
from tests.reference_packages import import_reference


def _stumpy():
    """stumpy with numba's JIT off while it is imported: compiling `stump` takes 30-100 s on the
    shared 2-core machine, running it in pure Python on these small series well under a second
    (the reference's arithmetic is the same; only its speed changes). Nothing else here uses numba.
    """
    numba = import_reference("numba")
    disabled = numba.config.DISABLE_JIT
    numba.config.DISABLE_JIT = True
    try:
        return import_reference("stumpy")
    finally:
        numba.config.DISABLE_JIT = disabled


def _brute_force(x, m):
    subs = np.lib.stride_tricks.sliding_window_view(x, m)
    z = (subs - subs.mean(1, keepdims=True)) / subs.std(1, keepdims=True)
    n, zone = len(subs), int(np.ceil(m / 4))
    profile = np.empty(n)
    for i in range(n):
        d = np.sqrt(((z - z[i]) ** 2).sum(1))
        d[max(0, i - zone) : i + zone + 1] = np.inf
        profile[i] = d.min()
    return profile


@pytest.mark.parametrize("n,m", [(300, 20), (257, 7)])
def test_matches_stumpy(n, m):
    stumpy = _stumpy()
    x = np.cumsum(np.random.default_rng(n).normal(size=n))
    profile, index = mp.matrix_profile(x, m)
    ref = stumpy.stump(x, m)
    np.testing.assert_allclose(profile, ref[:, 0].astype(float), atol=1e-9)  # observed 1e-13
    np.testing.assert_array_equal(index, ref[:, 1].astype(int))


def test_matches_brute_force_including_the_exclusion_zone():
    # Bug caught: an exclusion zone off by one lets a subsequence match its own neighbour.
    x = np.random.default_rng(3).normal(size=120)
    np.testing.assert_allclose(mp.matrix_profile(x, 10)[0], _brute_force(x, 10), atol=1e-9)


def test_row_blocks_give_the_same_profile(monkeypatch):
    # Bug caught: rows of a later block written to the wrong place (long series use many blocks).
    x = np.random.default_rng(4).normal(size=120)
    whole = mp.matrix_profile(x, 10)
    monkeypatch.setattr(mp, "_BLOCK_ENTRIES", 1000)  # 9 rows per block of 111
    blocked = mp.matrix_profile(x, 10)
    # Distances to the last bit may differ (a matmul over 9 rows sums in another order than one
    # over 111: 4e-16 seen on CI); the nearest neighbours may not.
    np.testing.assert_allclose(blocked[0], whole[0], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(blocked[1], whole[1])


def test_an_implanted_discord_tops_the_profile_and_the_point_scores():
    t = np.arange(1000)
    x = np.sin(2 * np.pi * t / 40) + 0.01 * np.random.default_rng(0).normal(size=1000)
    x[600:620] = 0.3 * np.sin(2 * np.pi * t[600:620] / 7)
    profile, _ = mp.matrix_profile(x, 40)
    assert 560 <= np.argmax(profile) <= 620
    scores = mp.discord_scores(x[:, None], 40)
    assert scores.shape == (1000,) and 590 <= np.argmax(scores) <= 630


def test_constant_subsequences_follow_stumpys_convention_and_short_series_refused():
    stumpy = _stumpy()
    x = np.concatenate([np.zeros(30), np.random.default_rng(0).normal(size=40), np.zeros(30)])
    np.testing.assert_allclose(
        mp.matrix_profile(x, 8)[0], stumpy.stump(x, 8)[:, 0].astype(float), atol=1e-8
    )
    with pytest.raises(ValueError, match="exclusion zone"):
        mp.matrix_profile(np.arange(10.0), 8)
