"""Reading and checking time series for anomaly detection: CSV files, UCR archive files, NaN gaps.

Indexing. A CSV's points are its data rows, 0-based (row 0 is the first row after the header). A
UCR Anomaly Archive file `<id>_UCR_Anomaly_<name>_<trainEnd>_<begin>_<end>.txt` is indexed 1-based
in its name, as the archive counts (point k is line k): the first `trainEnd` points are training
data (0-based indices < trainEnd) and the anomaly is points begin .. end inclusive, i.e. 0-based
begin - 1 .. end - 1. `Series.index_base` records which indexing a file uses, so results can be
reported in the file's own indexing (0-based index + index_base).
"""

import csv
import dataclasses
import pathlib
import re

import numpy as np

UCR_NAME = re.compile(r"^\d+_UCR_Anomaly_(?P<name>.+)_(?P<train>\d+)_(?P<begin>\d+)_(?P<end>\d+)$")


@dataclasses.dataclass(frozen=True)
class Series:
    """A series to examine. values float64 [T, C]; labels int8 [T] (0/1) or None; train_end: the
    number of leading training points (None: not given); index_base: 0 or 1 (see module doc)."""

    name: str
    values: np.ndarray
    labels: np.ndarray | None = None
    train_end: int | None = None
    index_base: int = 0


def check_labels(labels: np.ndarray, where: str) -> np.ndarray:
    """0/1 labels as int8 [T], or a ValueError naming the first other value."""
    labels = np.asarray(labels, np.float64)
    bad = ~np.isin(labels, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"The label column of {where} must hold only 0 and 1, but point {i} is "
            f"{float(labels[i])!r}; mark anomalies with 1 and normal points with 0."
        )
    return labels.astype(np.int8)


def read_csv(path, columns: list[str], label_column: str | None = None) -> Series:
    """Value `columns` (one or more, float) and an optional 0/1 `label_column` of a headed CSV.

    Every line after the header is one point, so no index ever shifts: an empty cell is a missing
    value at its row in every layout (in a one-column file it is a blank line), and so is a
    non-finite number ('nan', 'inf', '-inf'), as 'nan' always was: a reading the file could not
    represent is a gap, handled by `fill_gaps` (the config's nan_policy), never a value. Blank
    lines before the header and after the last row hold no point and are dropped. A row with
    more or fewer fields than the header is refused, naming its line. Labels are for evaluation
    only.
    """
    path = pathlib.Path(path)
    if not columns:
        raise ValueError(f"No value columns named for {path}; pass --config.data.columns=a,b.")
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next((row for row in reader if row), None)
        rows, lines = [], []  # each data row and the 1-based file line where it starts
        start = reader.line_num + 1
        for row in reader:
            rows.append(row)
            lines.append(start)
            start = reader.line_num + 1
    if header is None:
        raise ValueError(f"{path} is empty; a CSV needs a header row and data rows.")
    while rows and not rows[-1]:  # trailing blank lines: the end of the file, not points
        rows.pop()
        lines.pop()
    header = [h.strip() for h in header]
    wanted = list(columns) + ([label_column] if label_column else [])
    missing = [c for c in wanted if c not in header]
    if missing:
        raise ValueError(
            f"{path} has no column(s) {missing}; its columns are {header}: set "
            "--config.data.columns (and --config.data.label_column) to names from the header."
        )
    for row, line in zip(rows, lines, strict=True):
        if row and len(row) != len(header):
            raise ValueError(
                f"{path} line {line} has {len(row)} fields but the header has {len(header)}; "
                "give every row one field per column (an empty field is a missing value)."
            )

    def column(name):
        """float64 [T]: the column's numbers, NaN where a cell is empty or not finite."""
        k = header.index(name)
        out = np.full(len(rows), np.nan)
        for i, (row, line) in enumerate(zip(rows, lines, strict=True)):
            cell = row[k].strip() if row else ""
            try:
                out[i] = float(cell) if cell else np.nan
            except ValueError:
                raise ValueError(
                    f"{path} line {line} has {cell!r} in column {name!r}, which is not a number; "
                    "clean the file or choose another column."
                ) from None
        out[~np.isfinite(out)] = np.nan
        return out

    values = np.stack([column(c) for c in columns], axis=1)
    labels = None
    if label_column:
        raw = column(label_column)
        if np.isnan(raw).any():
            line = lines[int(np.flatnonzero(np.isnan(raw))[0])]
            raise ValueError(
                f"The label column {label_column!r} of {path} is empty or not finite at line "
                f"{line}; give every row a 0 or 1 label."
            )
        labels = check_labels(raw, f"{path}")
    return Series(path.stem, values, labels, None, index_base=0)


def read_ucr(path) -> Series:
    """A UCR Anomaly Archive .txt (values one per line or whitespace-separated) with its labels.

    The train end and the anomaly range come from the file name (1-based, see module doc); the
    labels mark the anomaly range. 'nan', 'inf' and '-inf' are missing values (see `read_csv`).
    """
    path = pathlib.Path(path)
    match = UCR_NAME.match(path.stem)
    if match is None:
        raise ValueError(
            f"{path.name} is not named like a UCR archive file "
            "'<id>_UCR_Anomaly_<name>_<trainEnd>_<begin>_<end>.txt'; rename it or use a CSV."
        )
    try:
        values = np.array(path.read_text().split(), np.float64)
    except ValueError as e:
        raise ValueError(f"{path} holds something that is not a number ({e}).") from None
    values[~np.isfinite(values)] = np.nan  # missing, as in `read_csv`
    train_end, begin, end = (int(match[k]) for k in ("train", "begin", "end"))
    if not 1 <= begin <= end <= len(values):
        raise ValueError(
            f"{path.name} names the anomaly {begin}..{end} (1-based), outside its {len(values)} "
            "points; check the file."
        )
    labels = np.zeros(len(values), np.int8)
    labels[begin - 1 : end] = 1
    return Series(match["name"], values[:, None], labels, train_end, index_base=1)


def read(path, columns=(), label_column: str | None = None) -> Series:
    """`read_ucr` for a UCR-named .txt, `read_csv` otherwise."""
    path = pathlib.Path(path)
    if not path.exists():
        raise ValueError(f"No file at {path}; pass --config.data.path=<csv or UCR txt>.")
    if path.suffix == ".txt" and UCR_NAME.match(path.stem):
        return read_ucr(path)
    return read_csv(path, list(columns), label_column)


def fill_gaps(values: np.ndarray, mode: str, index_base: int = 0) -> np.ndarray:
    """Missing values (NaN or another non-finite number): 'interpolate' fills gaps linearly per
    channel (ends take the nearest value); 'refuse' raises, naming the first missing point in the
    file's own indexing (0-based index + `index_base`, see module doc). Shape: [T, C] -> [T, C]."""
    if mode not in ("interpolate", "refuse"):
        raise ValueError(f"nan_policy={mode!r} must be 'interpolate' or 'refuse'.")
    values = np.asarray(values, np.float64)
    gaps = ~np.isfinite(values)
    if not gaps.any():
        return values
    if mode == "refuse":
        t, c = np.argwhere(gaps)[0]
        raise ValueError(
            f"The series has {int(gaps.sum())} missing values (empty, nan or inf), the first at "
            f"point {t + index_base} ({index_base}-based) of channel {c}; fix the file or set "
            "--config.data.nan_policy=interpolate to fill them linearly."
        )
    filled = values.copy()
    t = np.arange(len(values))
    for c in range(values.shape[1]):
        ok = ~gaps[:, c]
        if not ok.any():
            raise ValueError(f"Channel {c} has no values at all; drop that column.")
        filled[:, c] = np.interp(t, t[ok], values[ok, c])
    return filled


def check_split(num_points: int, train_end: int | None, window: int) -> int:
    """The train end, checked: at least one window of training data and one point after it."""
    if num_points < window:
        raise ValueError(
            f"The series has {num_points} points, shorter than one window of {window}; use a "
            "shorter --config.data.window or a longer series."
        )
    if train_end is None:
        raise ValueError(
            "No train split: pass --config.data.train_end=<number of leading normal points>."
        )
    if train_end <= 0:
        raise ValueError(
            f"train_end={train_end} leaves the train split empty; pass the number of leading "
            "normal points to train on."
        )
    if train_end >= num_points:
        raise ValueError(
            f"train_end={train_end} covers the whole series of {num_points} points, leaving "
            "nothing to test; pass a smaller --config.data.train_end."
        )
    if train_end < window:
        raise ValueError(
            f"train_end={train_end} is shorter than one window of {window}; train on more points "
            "or use a shorter --config.data.window."
        )
    return train_end


def normalize(values: np.ndarray, train_end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values - mean) / std with the training part's per-channel statistics.

    Shapes: values [T, C] -> (normalized [T, C], mean [C], std [C]). A channel constant over the
    training part has no scale to learn and is refused.
    """
    values = np.asarray(values, np.float64)
    train = values[:train_end]
    mean, std = train.mean(0), train.std(0)
    flat = np.flatnonzero(std <= 1e-12 * np.maximum(1.0, np.abs(mean)))
    if flat.size:
        raise ValueError(
            f"Channel(s) {flat.tolist()} are constant over the training part (value "
            f"{mean[flat[0]]:g}), so no scale can be learned; drop them or train on a longer part."
        )
    return (values - mean) / std, mean, std
