"""Time-series anomaly detection: a sequence autoencoder against z-score, PCA and matrix profile.

  python -m experiments.anomaly_detection --config=experiments/configs/anomaly/conv.py \
      --workdir=runs/anomaly [--config.data.path=<csv or UCR txt> --config.data.train_end=<int>]

Per series: values are gap-filled and normalized with the train part's statistics; a sequence
autoencoder (research/models/sequence_autoencoder.py) is trained by the project's loop on the
windows of the fit part (the train part less its held-out calibration tail), one stage per series
in the sub-workdir W/<series name> (`experiments.stages.run`: a rerun resumes or restores it; a
preempted series stops the run before it writes anything more); each point's score is its squared
reconstruction error averaged over channels and over the windows covering it. The baselines score
the same normalized series: rolling z-score, PCA reconstruction of windows (fit on the same
windows), and the matrix-profile discord. Every method's threshold is calibrated on the held-out
part (`threshold.method`), and test points above it form the ranges. Labels are read for evaluation
only: no training or (for 'percentile') calibration step sees them.

With `data.path`: one series (a CSV with `data.columns` and optional `data.label_column`, or a UCR
archive .txt); writes W/anomalies.json (the autoencoder's top1_location and ranges in the file's own
indexing: 0-based CSV rows, 1-based UCR points; the baselines' beside them; metrics when labelled)
and W/anomaly_<name>.png. Without it: the embedded suite (research/data/anomaly_series.py), each
series' anomalies.json under W/<name>/, a PNG per series, and the table of F1 and UCR-rule hits per
method in W/results.json and W/results.md.
"""

import json
import pathlib

import jax
import numpy as np
from absl import logging

from experiments import entry, stages
from experiments.figures import plt, save
from experiments.results import write_results
from research import models
from research.anomaly import detection, matrix_profile, pca, threshold, windows, zscore
from research.data import anomaly_series, time_series
from research.tasks.arrays import array_task
from research.train.losses import squared_error
from research.train.task import Task

BASELINES = ("zscore", "pca", "matrix_profile")


def load_series(config) -> list[time_series.Series]:
    """The series the config names: one file (`data.path`) or the embedded suite."""
    data = config.data
    if not data.path:
        return anomaly_series.suite()
    columns = [c.strip() for c in data.columns.split(",") if c.strip()]
    series = time_series.read(data.path, columns, data.label_column or None)
    train_end = series.train_end if data.train_end is None else data.train_end
    return [time_series.Series(series.name, series.values, series.labels, train_end,
                               series.index_base)]  # fmt: skip


def build_task(config, fit: np.ndarray, calibration: np.ndarray) -> Task:
    """The loop's task: reconstruct windows [N, L, C] with mean squared error per value."""
    model = models.load(config.model_name).make(**config.model.to_dict())
    values_per_window = fit.shape[1] * fit.shape[2]

    def loss_fn(params, model_state, batch, rng, train):
        del rng, train  # deterministic model
        recon = model.apply({"params": params, **model_state}, batch["x"])
        total, count = squared_error(recon, batch["x"], batch.get("weights"))
        total = total / values_per_window
        return total / count, {"loss": (total, count)}, model_state

    held_out = {"x": calibration} if len(calibration) else None  # None: no evaluation
    return array_task(
        model, loss_fn, {"x": fit}, held_out, batch_size=config.data.batch_size, seed=config.seed,
        items_name="windows",
    )  # fmt: skip


def autoencoder_scores(config, model, params, x: np.ndarray) -> np.ndarray:
    """Per-point scores of a normalized series [T, C] under trained params. Shape: [T]."""
    length, stride = config.data.window, config.data.stride
    starts = windows.window_starts(len(x), length, stride)
    wins = windows.sliding_windows(x.astype(np.float32), length, stride)
    apply = jax.jit(lambda p, w: model.apply({"params": p}, w))
    errors = []
    for a in range(0, len(wins), 1024):
        recon = np.asarray(apply(params, wins[a : a + 1024]))
        errors.append(np.mean((recon - wins[a : a + 1024]) ** 2, axis=-1))
    return windows.point_scores(np.concatenate(errors), starts, len(x))


def baseline_scores(config, x: np.ndarray, fit: np.ndarray) -> dict[str, np.ndarray]:
    length, stride = config.data.window, config.data.stride
    names = [b.strip() for b in config.baselines.methods.split(",") if b.strip()]
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        raise ValueError(
            f"Unknown baseline(s) {unknown} in --config.baselines.methods; choose from {BASELINES}."
        )
    out = {}
    if "zscore" in names:
        out["zscore"] = zscore.rolling_zscore(x, config.baselines.zscore_window)
    if "pca" in names:
        mean, components = pca.fit(fit, config.baselines.pca_components)
        starts = windows.window_starts(len(x), length, stride)
        errs = pca.window_errors(windows.sliding_windows(x, length, stride), mean, components)
        out["pca"] = windows.point_scores(errs, starts, len(x))
    if "matrix_profile" in names:
        out["matrix_profile"] = matrix_profile.discord_scores(x, length)
    return out


def run_series(config, series: time_series.Series, workdir: pathlib.Path) -> dict:
    """Trains, scores, calibrates and evaluates every method on one series; writes its outputs."""
    length = config.data.window
    values = time_series.fill_gaps(series.values, config.data.nan_policy, series.index_base)
    train_end = time_series.check_split(len(values), series.train_end, length)
    x, _, _ = time_series.normalize(values, train_end)
    start = detection.calibration_start(train_end, config.threshold.calibration_fraction, length)
    fit = windows.sliding_windows(x[:start].astype(np.float32), length, 1)
    held = x[start:train_end].astype(np.float32)
    calibration = windows.sliding_windows(held, length, 1) if len(held) >= length else held[:0]
    if len(fit) < config.data.batch_size:
        raise ValueError(
            f"{series.name}: the fit part has {len(fit)} windows, fewer than one batch of "
            f"{config.data.batch_size}; lower --config.data.batch_size or train on more points."
        )

    task = build_task(config, fit, calibration)
    params = jax.device_get(stages.run(series.name, config, workdir, task).params)
    scores = {"autoencoder": autoencoder_scores(config, task.model, params, x)}
    scores |= baseline_scores(config, x, fit)

    found = {}
    for method, s in scores.items():
        thresh = detection.calibrate(
            s, series.labels, start, train_end, config.threshold.method,
            config.threshold.percentile,
        )  # fmt: skip
        found[method] = detection.detect(s, series.labels, train_end, thresh)
    report = _report(series, train_end, found)
    if jax.process_index() == 0:  # the stage's sub-workdir holds its checkpoints already
        (workdir / series.name / "anomalies.json").write_text(json.dumps(report, indent=2) + "\n")
        _plot(workdir / f"anomaly_{series.name}.png", series, x, train_end, start, scores, found)
    return report


def _in_file(found: detection.Detection, base: int) -> dict:
    return {
        "top1_location": found.top1 + base,
        "ranges": [[b + base, e + base] for b, e in found.ranges],
        "threshold": found.threshold,
        **({"metrics": found.metrics} if found.metrics is not None else {}),
    }


def _report(series, train_end: int, found: dict[str, detection.Detection]) -> dict:
    base = series.index_base
    return {
        "series": series.name,
        "indexing": f"{base}-based",
        "num_points": len(series.values),
        "train_end": train_end,
        **_in_file(found["autoencoder"], base),
        "methods": {m: _in_file(d, base) for m, d in found.items()},
    }


def _plot(path, series, x, train_end, start, scores, found) -> None:
    fig, axes = plt.subplots(3, 1, figsize=(11, 7), sharex=True)
    t = np.arange(len(x))
    axes[0].plot(t, x, lw=0.7)
    axes[0].set_ylabel("series (normalized)")
    ae = found["autoencoder"]
    axes[1].plot(t, scores["autoencoder"], lw=0.8, color="k")
    axes[1].axhline(ae.threshold, color="r", ls="--", lw=0.8, label="threshold")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("autoencoder score")
    axes[1].legend(loc="upper left")
    for method, s in scores.items():
        axes[2].plot(t, s / max(found[method].threshold, 1e-12), lw=0.7, label=method)
    axes[2].axhline(1.0, color="r", ls="--", lw=0.8)
    axes[2].set_yscale("log")
    axes[2].set_ylabel("score / threshold")
    axes[2].legend(loc="upper left", fontsize=7, ncol=4)
    for ax in axes:
        ax.axvspan(start, train_end, color="0.9", lw=0)  # calibration part
        ax.axvline(train_end, color="0.5", lw=0.8)
        for b, e in ae.ranges:
            ax.axvspan(b, e + 1, color="r", alpha=0.25, lw=0)
        if series.labels is not None:
            for b, e in threshold.to_ranges(series.labels):
                ax.axvspan(b, e + 1, color="g", alpha=0.2, lw=0)
    axes[0].set_title(
        f"{series.name}: labelled (green), flagged by the autoencoder (red), calibration (grey)"
    )
    axes[-1].set_xlabel("point (0-based)")
    fig.tight_layout()
    save(fig, path)


def _table(reports: list[dict]) -> tuple[dict, str]:
    methods = list(reports[0]["methods"])
    rows = {r["series"]: {m: r["methods"][m]["metrics"] for m in methods} for r in reports}
    summary = {
        m: {
            "mean_f1": float(np.mean([rows[s][m]["f1"] for s in rows])),
            "ucr_accuracy": float(np.mean([rows[s][m]["ucr_hit"] for s in rows])),
            "mean_range_recall": float(np.mean([rows[s][m]["range_recall"] for s in rows])),
        }
        for m in methods
    }
    head = "| series | " + " | ".join(f"{m} F1 / UCR" for m in methods) + " |"
    lines = [head, "|---" * (len(methods) + 1) + "|"]
    for s, row in rows.items():
        cells = [f"{row[m]['f1']:.2f} / {'hit' if row[m]['ucr_hit'] else 'miss'}" for m in methods]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    cells = [f"**{summary[m]['mean_f1']:.2f} / {summary[m]['ucr_accuracy']:.2f}**" for m in methods]
    lines.append("| mean F1 / UCR accuracy | " + " | ".join(cells) + " |")
    return {"series": rows, "summary": summary}, "\n".join(lines) + "\n"


def main(config, workdir) -> list[dict]:
    workdir = pathlib.Path(workdir).resolve()  # Orbax refuses relative paths
    workdir.mkdir(parents=True, exist_ok=True)
    all_series = load_series(config)
    reports = []
    for series in all_series:
        report = run_series(config, series, workdir)
        logging.info("%s: %s", series.name, json.dumps(report["methods"]))
        reports.append(report)
    if config.data.path and jax.process_index() == 0:
        (workdir / "anomalies.json").write_text(json.dumps(reports[0], indent=2) + "\n")
    if all(r["methods"]["autoencoder"].get("metrics") for r in reports) and len(reports) > 1:
        results, markdown = _table(reports)
        write_results(workdir, results, markdown)
    return reports


if __name__ == "__main__":
    entry.run(main)
