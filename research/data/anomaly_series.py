"""The embedded anomaly-detection suite: a real EEG recording with injected anomalies, and sines.

Real series: matplotlib's sample `eeg.dat` (shipped with matplotlib; float64, 800 points x 4
channels, as its `mri_with_eeg` example reads it). Channels 0 and 3 carry large natural bursts near
points 535 and 690 that nobody labelled, so the suite uses channels 1 and 2. Each series trains on
its first half (`train_end`); the anomalies are injected after it by these rules, with scale s =
the channel's standard deviation over the training part:

  spike(t, h)            x[t] += h * s                          (one point)
  level_shift(b, e, h)   x[b..e] += h * s
  pattern(b, e, p, a)    x[b..e] = mean(x[b..e]) + a * s * sin(2 pi (t - b) / p)  (a rhythm the
                         signal does not have)
  flatline(b, e)         x[b..e] = x[b]                         (a stuck sensor)
  noise_burst(b, e, h)   x[b..e] += h * s * N(0, 1)

Labels are 1 on b..e (inclusive) and 0 elsewhere. The synthetic suite is sines (period 50,
amplitude 1, Gaussian noise 0.1, 2000 points, train on the first 1000) with one anomaly each,
including a 2-channel series whose channels stay individually plausible while their phase relation
breaks (a correlation anomaly that per-channel detectors cannot see).
"""

import numpy as np
from matplotlib import cbook

from research.data.time_series import Series

EEG_SHAPE = (800, 4)


def eeg() -> np.ndarray:
    """matplotlib's sample EEG recording. Shape: float64 [800, 4]."""
    path = cbook.get_sample_data("eeg.dat", asfileobj=False)
    return np.fromfile(path, dtype=np.float64).reshape(EEG_SHAPE)


def _scale(x: np.ndarray, train_end: int) -> float:
    return float(np.std(x[:train_end]))


def inject(values: np.ndarray, rule: str, channel: int, begin: int, end: int, train_end: int,
           amount: float = 0.0, period: float = 0.0, seed: int = 0):  # fmt: skip
    """One injection rule (see the module doc) on a copy of values [T, C]; returns (values, labels).

    Shapes: values [T, C] -> (values float64 [T, C], labels int8 [T]).
    """
    x = np.array(values, np.float64)
    if not train_end <= begin <= end < len(x):
        raise ValueError(
            f"Injection range {begin}..{end} must lie after train_end={train_end} and inside the "
            f"{len(x)} points; anomalies belong to the test part."
        )
    s = _scale(x[:, channel], train_end)
    seg = slice(begin, end + 1)
    t = np.arange(end + 1 - begin)
    if rule == "spike":
        if begin != end:
            raise ValueError("A spike is one point: pass begin == end.")
        x[begin, channel] += amount * s
    elif rule == "level_shift":
        x[seg, channel] += amount * s
    elif rule == "pattern":
        x[seg, channel] = x[seg, channel].mean() + amount * s * np.sin(2 * np.pi * t / period)
    elif rule == "flatline":
        x[seg, channel] = x[begin, channel]
    elif rule == "noise_burst":
        x[seg, channel] += amount * s * np.random.default_rng(seed).normal(size=len(t))
    else:
        raise ValueError(
            f"Unknown injection rule {rule!r}; choose spike, level_shift, pattern, flatline or "
            "noise_burst."
        )
    labels = np.zeros(len(x), np.int8)
    labels[seg] = 1
    return x, labels


def sines(num_points: int = 2000, period: float = 50.0, noise: float = 0.1, seed: int = 0,
          phases=(0.0,)) -> np.ndarray:  # fmt: skip
    """Noisy unit sines, a channel per phase (radians). Shape: float64 [num_points, len(phases)]."""
    t = np.arange(num_points)[:, None]
    clean = np.sin(2 * np.pi * t / period + np.asarray(phases)[None, :])
    return clean + noise * np.random.default_rng(seed).normal(size=clean.shape)


def _eeg_series() -> list[Series]:
    data, train_end = eeg(), 400
    out = []
    for name, channel, rule, begin, end, kw in [
        ("eeg_spike", 1, "spike", 600, 600, dict(amount=6.0)),
        ("eeg_level_shift", 2, "level_shift", 520, 559, dict(amount=3.0)),
        ("eeg_pattern", 1, "pattern", 650, 689, dict(amount=1.5, period=6.0)),
        ("eeg_flatline", 2, "flatline", 700, 739, {}),
    ]:
        x, labels = inject(data[:, channel : channel + 1], rule, 0, begin, end, train_end, **kw)
        out.append(Series(name, x, labels, train_end))
    return out


def _sine_series() -> list[Series]:
    train_end = 1000
    out = []
    for name, rule, begin, end, kw in [
        ("sine_spike", "spike", 1512, 1512, dict(amount=2.0)),
        ("sine_frequency", "pattern", 1400, 1499, dict(amount=1.0, period=25.0)),
        ("sine_flatline", "flatline", 1600, 1649, {}),
        ("sine_noise_burst", "noise_burst", 1200, 1249, dict(amount=0.5, seed=1)),
    ]:
        x, labels = inject(sines(seed=len(out)), rule, 0, begin, end, train_end, **kw)
        out.append(Series(name, x, labels, train_end))
    # Two channels a quarter period apart; on 1500..1599 channel 1 jumps half a period ahead (each
    # channel is still a clean sine there, only their relation changed).
    x = sines(seed=7, phases=(0.0, np.pi / 2))
    t = np.arange(1500, 1600)
    x[t, 1] = np.sin(2 * np.pi * t / 50 + np.pi / 2 + np.pi) + 0.1 * np.random.default_rng(
        8
    ).normal(size=len(t))
    labels = np.zeros(len(x), np.int8)
    labels[t] = 1
    out.append(Series("sines_phase_break", x, labels, train_end))
    return out


def suite() -> list[Series]:
    """The embedded suite: 4 EEG series with injected anomalies, then 5 synthetic ones."""
    return _eeg_series() + _sine_series()
