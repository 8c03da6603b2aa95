"""Long context with efficient attention: the GPT trained at a longer context with each attention
implementation, validation loss and time per step side by side.

  python -m experiments.long_context --config=experiments/configs/attention/long_context.py \
      --workdir=runs/long_context

Each entry of `config.runs` (name -> lm.model overrides, e.g. {'attention_impl': 'blockwise'})
trains GPT-tiny (the config's `lm` section: the main job's model and corpus, `research.tasks.lm`) as
one stage (`experiments.stages`) at `lm.data.seq_len` tokens per sequence and `lm.data.batch_size`
sequences per step (by default as many tokens per step as the main job at its 128-token context),
for `lm.num_train_steps` steps, same seed and data order. Reported per run: the final
validation loss in nats per byte (the same validation text for every run), the median seconds per
step after the first logging interval (which holds the compilation) and tokens per second. An
implementation that computes exact attention (einsum, 'xla', 'blockwise', a window covering the
whole context) must reach the same loss as the einsum run up to float rounding; an approximation
(a shorter window, Performer's random features) shows what it costs in loss and buys in time.

Each run's workdir is <workdir>/<name> (re-running resumes it; a preempted run stops the
experiment). Writes results.json, results.md
and long_context.png (validation loss against step; time per step).
"""

import pathlib
import statistics
import time

import jax
from absl import logging

from experiments import entry, stages
from experiments.figures import plt, save
from experiments.results import write_results
from research.tasks.lm import build_task
from research.train.metrics import metric_curve, records_with


def run_config(config, overrides: dict):
    """The `lm` section with the run's model overrides: the only keys the runs differ in."""
    lm = config.lm.copy_and_resolve_references()
    lm.model.update(overrides)
    return lm


def seconds_per_step(run_dir) -> float:
    """Median of the logged seconds per step, the first interval (compilation) left out."""
    values = metric_curve(run_dir, "train/seconds_per_step")[1]
    return statistics.median(values[1:] if len(values) > 1 else values)


def train_runs(config, workdir: pathlib.Path) -> list[dict]:
    rows = []
    for name, overrides in config.runs.items():
        lm = run_config(config, dict(overrides))
        start = time.perf_counter()
        devices = jax.devices()[: config.num_devices or None]
        result = stages.run(name, lm, workdir, build_task(lm, workdir / name), devices=devices)
        step_seconds = seconds_per_step(result.workdir)
        tokens_per_step = lm.data.seq_len * lm.data.batch_size
        rows.append({
            "run": name,
            "overrides": dict(overrides),
            "context": lm.data.seq_len,
            "batch_size": lm.data.batch_size,
            "steps": lm.num_train_steps,
            "eval_loss": result.metrics["eval/loss"],
            "eval_nats_per_byte": result.metrics["eval/nats_per_byte"],
            "seconds_per_step": step_seconds,
            "tokens_per_second": tokens_per_step / step_seconds,
            "wall_seconds": time.perf_counter() - start,
        })  # fmt: skip
        logging.info("%s: %s", name, rows[-1])
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| attention | model overrides | context x batch | steps | val nats/byte | ms / step "
        "| tokens/s |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        shown = ", ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "-"
        lines.append(
            f"| {r['run']} | {shown} | {r['context']} x {r['batch_size']} | {r['steps']} | "
            f"{r['eval_nats_per_byte']:.4f} | {1000 * r['seconds_per_step']:.0f} | "
            f"{r['tokens_per_second']:,.0f} |"
        )
    return "\n".join(lines) + "\n"


def plot(workdir: pathlib.Path, rows: list[dict], path: pathlib.Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for r in rows:
        records = records_with(workdir / r["run"], "eval/nats_per_byte")
        left.plot(
            [x["step"] for x in records],
            [x["eval/nats_per_byte"] for x in records],
            marker="o",
            label=r["run"],
        )
    left.set(xlabel="step", ylabel="validation nats / byte", title="Validation loss")
    left.legend()
    names = [r["run"] for r in rows]
    right.bar(names, [1000 * r["seconds_per_step"] for r in rows], color="tab:gray")
    right.set(ylabel="ms / training step", title=f"Time per step at context {rows[0]['context']}")
    right.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    save(fig, path)


def main(config, workdir) -> dict:
    workdir = pathlib.Path(workdir)
    rows = train_runs(config, workdir)
    lm = config.lm
    results = {
        "context": lm.data.seq_len,
        "tokens_per_step": lm.data.seq_len * lm.data.batch_size,
        "rows": rows,
    }
    if write_results(workdir, results, markdown(rows)):
        plot(workdir, rows, workdir / "long_context.png")
    return results


if __name__ == "__main__":
    entry.run(main)
