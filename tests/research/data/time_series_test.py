"""Tests for research/data/time_series.py: CSV and UCR readers, NaN gaps, split and scale checks,
each bad input refused with one sentence."""

import numpy as np
import pytest

from research.data import time_series as ts

UCR = "025_UCR_Anomaly_DISTORTEDtest_12_15_17.txt"


def _write(path, text):
    path.write_text(text)
    return path


def test_csv_reads_named_columns_and_labels(tmp_path):
    path = _write(tmp_path / "s.csv", "time,a,b,label\n0,1.5,10,0\n1,,20,1\n2,3.5,nan,0\n")
    series = ts.read(path, ["b", "a"], "label")
    np.testing.assert_array_equal(series.values[:, 0], [10, 20, np.nan])
    np.testing.assert_array_equal(series.values[:, 1], [1.5, np.nan, 3.5])
    assert series.labels.tolist() == [0, 1, 0] and series.labels.dtype == np.int8
    assert series.index_base == 0 and series.train_end is None and series.name == "s"


def test_csv_without_the_named_column_or_with_bad_labels_is_refused(tmp_path):
    path = _write(tmp_path / "s.csv", "a,label\n1,0\n2,2\n")
    with pytest.raises(ValueError, match=r"has no column\(s\) \['value'\]; its columns are"):
        ts.read(path, ["value"])
    with pytest.raises(ValueError, match="must hold only 0 and 1, but point 1 is 2.0"):
        ts.read(path, ["a"], "label")
    with pytest.raises(ValueError, match="No file at"):
        ts.read(tmp_path / "missing.csv", ["a"])


def test_empty_cells_stay_missing_values_at_their_row_in_every_layout(tmp_path):
    # Bug: a one-column CSV's empty cell is a blank line, which was skipped, so every later row
    # moved up (rows 100-104 empty made an anomaly at row 450 report 445).
    cells = [str(i) for i in range(600)]
    cells[100:105] = [""] * 5
    one = ts.read(_write(tmp_path / "one.csv", "value\n" + "\n".join(cells) + "\n\n\n"), ["value"])
    assert one.values.shape == (600, 1)  # trailing blank lines hold no point
    assert np.flatnonzero(np.isnan(one.values[:, 0])).tolist() == [100, 101, 102, 103, 104]
    assert one.values[450, 0] == 450.0
    with pytest.raises(ValueError, match=r"has 5 missing values .* at point 100 \(0-based\)"):
        ts.fill_gaps(one.values, "refuse")
    # Two columns: an empty cell and a blank line are missing values at their row too.
    two = ts.read(_write(tmp_path / "two.csv", "a,b\n1,2\n,4\n\n7,8\n"), ["a", "b"])
    np.testing.assert_array_equal(two.values, [[1, 2], [np.nan, 4], [np.nan, np.nan], [7, 8]])


def test_non_finite_numbers_are_missing_values_under_the_nan_policy(tmp_path):
    # Bug: 'inf' was read as a value and passed nan_policy=refuse, poisoning the scale.
    series = ts.read(_write(tmp_path / "s.csv", "a\n1\ninf\n-inf\nnan\n5\n"), ["a"])
    np.testing.assert_array_equal(series.values[:, 0], [1, np.nan, np.nan, np.nan, 5])
    np.testing.assert_array_equal(ts.fill_gaps(series.values, "interpolate")[:, 0], [1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match=r"has 1 missing values .* at point 2 \(0-based\)"):
        ts.fill_gaps(np.array([[0.0], [1.0], [np.inf]]), "refuse")
    ucr = ts.read(_write(tmp_path / UCR, " ".join(["1"] * 16 + ["inf"] + ["2"] * 3)))
    assert np.flatnonzero(np.isnan(ucr.values[:, 0])).tolist() == [16]


def test_a_row_with_the_wrong_field_count_or_a_non_number_names_file_and_line(tmp_path):
    # Bug: a short row reported "not a number (list index out of range)", naming no line.
    path = _write(tmp_path / "s.csv", "a,b,label\n1,2,0\n3\n")
    with pytest.raises(ValueError, match=r"s.csv line 3 has 1 fields but the header has 3; give"):
        ts.read(path, ["a"], "label")
    path = _write(tmp_path / "s.csv", "a\n1\nx\n")
    with pytest.raises(ValueError, match=r"s.csv line 3 has 'x' in column 'a', which is not a"):
        ts.read(path, ["a"])
    path = _write(tmp_path / "s.csv", "a,label\n1,0\n2,\n")
    with pytest.raises(ValueError, match=r"'label' of .*s.csv is empty or not finite at line 3"):
        ts.read(path, ["a"], "label")
    with pytest.raises(ValueError, match=r"nan_policy='skip' must be 'interpolate' or 'refuse'"):
        ts.fill_gaps(np.ones((2, 1)), "skip")  # refused even when nothing is missing


def test_ucr_file_name_gives_train_end_and_1_based_inclusive_range(tmp_path):
    # 20 points on 4 lines (whitespace-separated and one per line both occur in the archive).
    values = np.arange(20.0)
    text = " ".join(map(str, values[:10])) + "\n" + "\n".join(map(str, values[10:])) + "\n"
    series = ts.read(_write(tmp_path / UCR, text))
    assert series.name == "DISTORTEDtest" and series.index_base == 1
    assert series.train_end == 12  # points 1..12 (1-based) = 0-based indices 0..11
    np.testing.assert_array_equal(series.values[:, 0], values)
    # Anomaly 15..17 (1-based, inclusive) = 0-based 14, 15, 16.
    assert np.flatnonzero(series.labels).tolist() == [14, 15, 16]


def test_ucr_range_outside_the_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="outside its 5 points"):
        ts.read(_write(tmp_path / UCR, "1 2 3 4 5"))


def test_nan_gaps_interpolated_or_refused():
    x = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, 3.0], [4.0, 5.0], [np.nan, 5.0]])
    filled = ts.fill_gaps(x, "interpolate")
    np.testing.assert_array_equal(filled, [[2, 1], [2, 2], [3, 3], [4, 5], [4, 5]])
    with pytest.raises(
        ValueError,
        match=r"has 4 missing values \(empty, nan or inf\), the first at point 0 \(0-based\) of "
        r"channel 0; fix the file or set --config.data.nan_policy",
    ):
        ts.fill_gaps(x, "refuse")
    with pytest.raises(ValueError, match=r"the first at point 1 \(1-based\)"):
        ts.fill_gaps(x, "refuse", index_base=1)  # a UCR file counts from 1
    np.testing.assert_array_equal(ts.fill_gaps(filled, "refuse"), filled)


def test_split_checks():
    assert ts.check_split(100, 50, 10) == 50
    with pytest.raises(ValueError, match="shorter than one window of 10"):
        ts.check_split(8, 4, 10)
    with pytest.raises(ValueError, match="leaves the train split empty"):
        ts.check_split(100, 0, 10)
    with pytest.raises(ValueError, match="covers the whole series of 100 points"):
        ts.check_split(100, 100, 10)
    with pytest.raises(ValueError, match="No train split"):
        ts.check_split(100, None, 10)


def test_normalize_uses_train_statistics_and_refuses_a_constant_series():
    x = np.array([[1.0], [3.0], [100.0]])
    z, mean, std = ts.normalize(x, 2)
    np.testing.assert_allclose(z[:, 0], [-1, 1, 98])
    assert mean.tolist() == [2.0] and std.tolist() == [1.0]
    with pytest.raises(ValueError, match=r"Channel\(s\) \[1\] are constant over the training"):
        ts.normalize(np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 7.0]]), 2)
