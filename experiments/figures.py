"""Figures in experiment workdirs: matplotlib's file-only Agg backend, chosen here and nowhere else.

    from experiments.figures import plt, save

    fig, ax = plt.subplots()
    ...
    save(fig, workdir / "curve.png")

Experiments draw only where `write_results` returned True (process 0), so each figure is written
once; `save` writes under a temporary name and renames, so a killed run leaves the old figure or
the whole new one, never half a PNG.
"""

import os
import pathlib

import matplotlib

from research.train.metrics import metric_curve

matplotlib.use("Agg")  # files only: no display on servers, TPU VMs or CI
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)


def save(fig, path, **savefig_kwargs) -> None:
    """Writes `fig` to `path` whole (temporary file, then rename) and closes it. Default dpi 100."""
    path = pathlib.Path(path)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    fig.savefig(partial, **{"dpi": 100, **savefig_kwargs})
    plt.close(fig)
    os.replace(partial, path)


def finetune_figure(workdir, path, *, pretrain: tuple, eval_label: str, finetune: tuple) -> None:
    """A pre-train -> fine-tune experiment's two panels, read from its stages' metrics.jsonl.

    Left: train/loss and eval/loss of `<workdir>/pretrain/`; pretrain = (title, y label), and
    eval_label names the eval curve. Right: a fine-tuning metric over the steps of
    `<workdir>/finetune_pretrained/` and `<workdir>/finetune_scratch/`; finetune = (metric key,
    y label, title), the y axis 0 to 1.
    """
    workdir = pathlib.Path(workdir)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(*metric_curve(workdir / "pretrain", "train/loss"), label="train")
    left.plot(*metric_curve(workdir / "pretrain", "eval/loss"), marker=".", label=eval_label)
    left.set(xlabel="step", ylabel=pretrain[1], title=pretrain[0])
    left.legend()
    key, ylabel, title = finetune
    for start, label in (("pretrained", "pre-trained"), ("scratch", "scratch")):
        right.plot(*metric_curve(workdir / f"finetune_{start}", key), marker="o", label=label)
    right.set(xlabel="step", ylabel=ylabel, title=title)
    right.set_ylim(0, 1)
    right.legend()
    fig.tight_layout()
    save(fig, path)


__all__ = ["finetune_figure", "plt", "save"]
