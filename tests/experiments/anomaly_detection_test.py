"""The anomaly-detection experiment end to end with `:smoke` configs: the CLI on a labelled CSV,
a UCR archive file reported in its own 1-based indexing, and each bad input refused in one
sentence."""

import json

import numpy as np
import pytest

from experiments import anomaly_detection
from experiments.configs.anomaly import conv
from experiments.stages import StagePreempted
from tests.config_overrides import with_overrides
from tests.experiments import run_experiment as rx
from tests.experiments.preemption import preempt_stage

CONFIG = "experiments/configs/anomaly/conv.py:smoke"


def _sine_csv(path, n=400, spike=330, label=True):
    t = np.arange(n)
    rng = np.random.default_rng(0)
    a = np.sin(2 * np.pi * t / 20) + 0.05 * rng.normal(size=n)
    b = np.cos(2 * np.pi * t / 20) + 0.05 * rng.normal(size=n)
    a[spike] += 8.0
    lines = ["a,b,label" if label else "a,b"]
    for i in range(n):
        lines.append(f"{a[i]:.5f},{b[i]:.5f}" + (f",{int(i == spike)}" if label else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_smoke_on_a_labelled_csv_writes_anomalies_json_and_a_plot(tmp_path):
    csv = _sine_csv(tmp_path / "toy.csv")
    flags = [f"--config.data.path={csv}", "--config.data.train_end=200",
             "--config.data.columns=a,b", "--config.data.label_column=label"]  # fmt: skip
    done = rx.run(rx.command("experiments.anomaly_detection", CONFIG, tmp_path / "w", *flags))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "w" / "anomalies.json").read_text())
    assert report["indexing"] == "0-based" and report["train_end"] == 200
    assert report["num_points"] == 400
    # An 8-sigma spike at row 330: every method puts its top score there (CSV rows are 0-based).
    for method in ("autoencoder", "zscore", "pca", "matrix_profile"):
        found = report["methods"][method]
        assert abs(found["top1_location"] - 330) <= {"matrix_profile": 8}.get(method, 0), method
        assert found["metrics"]["ucr_hit"] == 1.0 and found["metrics"]["range_recall"] == 1.0
        assert all(200 <= b <= e < 400 for b, e in found["ranges"])
    assert report["top1_location"] == report["methods"]["autoencoder"]["top1_location"]
    assert any(b <= 330 <= e for b, e in report["ranges"])
    assert (tmp_path / "w" / "anomaly_toy.png").stat().st_size > 10_000
    assert sorted(p.name for p in (tmp_path / "w" / "toy" / "checkpoints").iterdir()) == ["20"]


def _config(**overrides):
    config = conv.get_config("smoke")
    with_overrides(config, **{"mesh.data": 8, **overrides})
    return config


def test_ucr_file_is_reported_in_its_own_1_based_indexing_after_a_preemption(tmp_path, monkeypatch):
    # Name: train on points 1..200, anomaly at points 306..306 (1-based) = 0-based index 305.
    t = np.arange(400)
    x = np.sin(2 * np.pi * t / 25) + 0.02 * np.random.default_rng(1).normal(size=400)
    x[305] += 6.0
    path = tmp_path / "001_UCR_Anomaly_toy_200_306_306.txt"
    path.write_text("\n".join(f"{v:.6f}" for v in x) + "\n")
    # Preempted after one step: the series' checkpoint is saved, nothing else is written.
    preempt_stage(monkeypatch, 1)
    with pytest.raises(StagePreempted, match="stage 'toy' at step 1"):
        anomaly_detection.main(
            _config(**{"data.path": str(path), "baselines.methods": "zscore"}), tmp_path / "w"
        )
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["toy"]
    assert not (tmp_path / "w" / "toy" / "anomalies.json").exists()
    saved = tmp_path / "w" / "toy" / "checkpoints"
    assert sorted(p.name for p in saved.iterdir() if p.name.isdigit()) == ["1"]
    monkeypatch.undo()
    (report,) = anomaly_detection.main(
        _config(**{"data.path": str(path), "baselines.methods": "zscore"}), tmp_path / "w"
    )
    assert report["indexing"] == "1-based" and report["train_end"] == 200
    assert report["methods"]["zscore"]["top1_location"] == 306  # exact: the spike's line number
    assert report["top1_location"] == 306
    assert report["metrics"]["ucr_hit"] == 1.0
    saved = json.loads((tmp_path / "w" / "anomalies.json").read_text())
    assert saved["top1_location"] == 306 and "matrix_profile" not in saved["methods"]
    # A rerun on the same workdir restores the finished series (no step is trained again) and
    # reports the same detection.
    metrics_file = tmp_path / "w" / "toy" / "metrics.jsonl"
    logged = metrics_file.read_text()
    (again,) = anomaly_detection.main(
        _config(**{"data.path": str(path), "baselines.methods": "zscore"}), tmp_path / "w"
    )
    assert again == report
    assert metrics_file.read_text() == logged


@pytest.mark.parametrize(
    "csv,overrides,message",
    [
        ("a,b\n" + "1,2\n" * 50, {"data.columns": "value"}, r"has no column\(s\) \['value'\]"),
        ("a,label\n" + "1,0\n2,3\n" * 50, {"data.label_column": "label"}, "only 0 and 1"),
        ("a\n" + "1\n" * 300, {"data.train_end": 200}, "constant over the training part"),
        ("a\n" + "1\n2\n" * 5, {"data.train_end": 5}, "shorter than one window of 16"),
        ("a\n" + "1\n2\n" * 100, {"data.train_end": 0}, "leaves the train split empty"),
        ("a\n" + "1\n2\n" * 100, {"data.train_end": 200}, "covers the whole series"),
        ("a,b\n" + "1,5\n,6\n" * 100, {"data.nan_policy": "refuse"}, "100 missing values"),
    ],
)
def test_bad_inputs_are_refused_with_one_sentence(tmp_path, csv, overrides, message):
    path = tmp_path / "bad.csv"
    path.write_text(csv)
    config = _config(**{"data.path": str(path), "data.columns": "a", "data.train_end": 100,
                        **overrides})  # fmt: skip
    with pytest.raises(ValueError, match=message) as error:
        anomaly_detection.main(config, tmp_path / "w")
    assert str(error.value).count(". ") == 0 and "\n" not in str(error.value)


def test_training_batches_hold_only_windows_of_the_fit_part():
    # Labels are for evaluation only: the task is built from windows alone, and its batches carry
    # nothing else (a label leaking into training would show up as a second key).
    fit = np.arange(40 * 16, dtype=np.float32).reshape(40, 16, 1)
    task = anomaly_detection.build_task(_config(), fit, fit[:0])
    batch = next(task.train_iterator(0, 1))
    assert set(batch) == {"x"} and batch["x"].shape == (16, 16, 1)
    assert set(batch["x"][:, 0, 0].tolist()) <= set(fit[:, 0, 0].tolist())
    assert task.eval_batches is None  # no calibration windows, no evaluation
