"""Long context with efficient attention: the GPT trained at a longer context with each attention
implementation, validation loss and time per step side by side.

  python -m experiments.long_context --config=experiments/configs/attention/long_context.py \
      --workdir=runs/long_context

Each entry of `config.runs` (name -> model overrides, e.g. {'attention_impl': 'blockwise'}) trains
GPT-tiny (experiments/configs/lm/gpt_tiny.py, the main job's model and corpus) through the one loop
(experiments/train_lm.py) at `config.context` tokens per sequence, with `config.tokens_per_step`
tokens per step (so every run, and the main job at its 128-token context, sees the same number of
tokens), for `config.num_train_steps` steps, same seed and data order. Reported per run: the final
validation loss in nats per byte (the same validation text for every run), the median seconds per
step after the first logging interval (which holds the compilation) and tokens per second. An
implementation that computes exact attention (einsum, 'xla', 'blockwise', a window covering the
whole context) must reach the same loss as the einsum run up to float rounding; an approximation
(a shorter window, Performer's random features) shows what it costs in loss and buys in time.

Each run's workdir is <workdir>/<name> (re-running resumes it). Writes results.json, results.md
and long_context.png (validation loss against step; time per step).
"""

import pathlib
import statistics
import time

import jax
import matplotlib
from absl import logging

from experiments import entry, train_lm
from experiments.configs.lm import gpt_tiny
from experiments.results import write_results
from research.train import loop
from research.train.metrics import last_record_with, metric_curve, records_with

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)


def run_config(config, overrides: dict):
    """GPT-tiny's config (smoke or full, as this experiment) at the experiment's context."""
    if config.tokens_per_step % config.context:
        raise ValueError(
            f"tokens_per_step={config.tokens_per_step} is not a multiple of context="
            f"{config.context}; choose tokens_per_step = batch size x context."
        )
    lm = gpt_tiny.get_config("smoke" if config.smoke else None)
    lm.data.data_dir = config.data_dir
    lm.data.seq_len = config.context
    lm.data.batch_size = config.tokens_per_step // config.context
    lm.model.max_len = config.context
    lm.model.update(overrides)
    lm.num_train_steps = config.num_train_steps
    lm.log_every_steps = config.log_every_steps
    lm.eval_every_steps = config.eval_every_steps
    lm.checkpoint_every_steps = config.num_train_steps
    lm.optimizer.warmup_steps = min(lm.optimizer.warmup_steps, config.num_train_steps // 2)
    lm.sample.num_tokens = config.sample_tokens
    lm.seed = config.seed
    return lm


def seconds_per_step(run_dir) -> float:
    """Median of the logged seconds per step, the first interval (compilation) left out."""
    values = metric_curve(run_dir, "train/seconds_per_step")[1]
    return statistics.median(values[1:] if len(values) > 1 else values)


def train_runs(config, workdir: pathlib.Path) -> list[dict]:
    rows = []
    for name, overrides in config.runs.items():
        lm = run_config(config, dict(overrides))
        run_dir = workdir / name
        start = time.perf_counter()
        devices = jax.devices()[: config.num_devices or None]
        loop.train(lm, run_dir, train_lm.build_task(lm, run_dir), devices)
        last = last_record_with(run_dir, "eval/loss")
        step_seconds = seconds_per_step(run_dir)
        rows.append({
            "run": name,
            "overrides": dict(overrides),
            "context": config.context,
            "batch_size": lm.data.batch_size,
            "steps": lm.num_train_steps,
            "eval_loss": last["eval/loss"],
            "eval_nats_per_byte": last["eval/nats_per_byte"],
            "seconds_per_step": step_seconds,
            "tokens_per_second": config.tokens_per_step / step_seconds,
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
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(config, workdir) -> dict:
    workdir = pathlib.Path(workdir)
    rows = train_runs(config, workdir)
    results = {"context": config.context, "tokens_per_step": config.tokens_per_step, "rows": rows}
    if write_results(workdir, results, markdown(rows)):
        plot(workdir, rows, workdir / "long_context.png")
    return results


if __name__ == "__main__":
    entry.run(main)
