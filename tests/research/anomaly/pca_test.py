"""Tests for research/anomaly/pca.py against scikit-learn's PCA."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from research.anomaly import pca


def test_reconstruction_matches_sklearn():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(60, 5, 2)) @ np.diag([3.0, 0.5])
    test = rng.normal(size=(7, 5, 2))
    mean, components = pca.fit(train, 3)
    ref = PCA(3).fit(train.reshape(60, -1))
    want = ref.inverse_transform(ref.transform(test.reshape(7, -1))).reshape(test.shape)
    np.testing.assert_allclose(pca.reconstruct(test, mean, components), want, atol=1e-10)
    errors = pca.window_errors(test, mean, components)
    assert errors.shape == (7, 5)
    np.testing.assert_allclose(errors, ((want - test) ** 2).mean(-1), atol=1e-10)


def test_full_rank_reconstructs_exactly_and_bad_rank_refused():
    w = np.random.default_rng(1).normal(size=(20, 3, 1))
    mean, components = pca.fit(w, 3)
    np.testing.assert_allclose(pca.reconstruct(w, mean, components), w, atol=1e-12)
    with pytest.raises(ValueError, match="num_components=4 must be in"):
        pca.fit(w, 4)
