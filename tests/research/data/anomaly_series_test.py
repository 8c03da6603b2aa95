"""Tests for research/data/anomaly_series.py: the EEG file, each injection rule, the suite."""

import numpy as np
import pytest

from research.data import anomaly_series as a


def test_eeg_is_matplotlibs_800_by_4_recording():
    x = a.eeg()
    assert x.shape == (800, 4) and x.dtype == np.float64
    np.testing.assert_allclose(x.std(0), 1.0, atol=0.01)  # measured 0.998..0.999


def test_injection_rules_change_only_the_labelled_points():
    x = a.sines(300, seed=0)
    s = np.std(x[:100, 0])
    for rule, kw in [("spike", dict(amount=4.0)), ("level_shift", dict(amount=2.0)),
                     ("pattern", dict(amount=1.0, period=5.0)), ("flatline", {}),
                     ("noise_burst", dict(amount=1.0))]:  # fmt: skip
        end = 150 if rule == "spike" else 169
        y, labels = a.inject(x, rule, 0, 150, end, 100, **kw)
        changed = np.flatnonzero(y[:, 0] != x[:, 0])
        assert np.flatnonzero(labels).tolist() == list(range(150, end + 1))
        assert set(changed) <= set(range(150, end + 1)) and len(changed) > 0
    y, _ = a.inject(x, "spike", 0, 150, 150, 100, amount=4.0)
    assert y[150, 0] - x[150, 0] == pytest.approx(4 * s)
    y, _ = a.inject(x, "flatline", 0, 150, 169, 100)
    assert np.all(y[150:170, 0] == x[150, 0])
    with pytest.raises(ValueError, match="must lie after train_end=100"):
        a.inject(x, "spike", 0, 50, 50, 100)
    with pytest.raises(ValueError, match="Unknown injection rule 'drift'"):
        a.inject(x, "drift", 0, 150, 160, 100)


def test_suite_series_are_labelled_after_their_train_end():
    suite = a.suite()
    assert len(suite) == 9 and len({s.name for s in suite}) == 9
    for s in suite:
        assert s.labels.shape == (len(s.values),) and s.labels.sum() >= 1
        assert not s.labels[: s.train_end].any()
    assert next(s for s in suite if s.name == "sines_phase_break").values.shape == (2000, 2)
