"""An experiment's summary in its workdir: results.json and results.md, each written whole."""

import json
import os
import pathlib

import jax
from absl import logging

from experiments.figures import finetune_figure


def write_results(workdir, results: dict, table: str | None = None, *, title="Results") -> bool:
    """Writes `results` as results.json and the markdown `table` (if given) as results.md in
    `workdir`, and logs the table under `title`.

    Each file is written under a temporary name and renamed over the old one, so a reader, or a
    run killed mid-write, sees the old file or the whole new one. Only process 0 writes (every
    process of a multi-host run holds the same results); it returns True there, so a caller draws
    its figures under the same condition:

        if write_results(workdir, results, markdown(results)):
            plot(results, workdir / "figure.png")
    """
    if jax.process_index() != 0:
        return False
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _write_whole(workdir / "results.json", json.dumps(results, indent=2) + "\n")
    if table is not None:
        _write_whole(workdir / "results.md", table if table.endswith("\n") else table + "\n")
        logging.info("%s:\n%s", title, table)
    return True


def _write_whole(path: pathlib.Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def finetune_summary(pre, fine, classes, *, pretrain: str, rows: dict, metric: tuple):
    """The results and markdown table of a pre-train -> fine-tune (pre-trained | scratch)
    experiment, from its StageResults: `pre`, and `fine` from `experiments.stages.finetune_from`.

    pretrain: the pre-training stage's name in the table; rows: {name in results['pretrain']:
    (key of pre.metrics, label in the table)}; metric: (name, label) of the fine-tuning eval
    metric ('accuracy' reads 'eval/accuracy'), reported with its 'eval/loss'. Returns
    ({'pretrain': {'steps', name: value}, 'finetune': {start: {'steps', metric, 'loss'}},
    'classes': [names]}, the table: one row per pre-training metric and per start).
    """
    name, label = metric
    results = {
        "pretrain": {"steps": pre.step} | {k: pre.metrics[key] for k, (key, _) in rows.items()},
        "finetune": {
            start: {
                "steps": run.step,
                name: run.metrics[f"eval/{name}"],
                "loss": run.metrics["eval/loss"],
            }
            for start, run in fine.items()
        },
        "classes": list(classes),
    }
    lines = ["| stage | steps | metric | value |", "|---|---:|---|---:|"]
    for i, (k, (_, row_label)) in enumerate(rows.items()):
        stage = f"| {pretrain} | {pre.step} |" if i == 0 else "| | |"
        lines.append(f"{stage} {row_label} | {results['pretrain'][k]:.3f} |")
    for start, row in results["finetune"].items():
        lines.append(
            f"| fine-tune ({start}) | {row['steps']} | {label} ({len(classes)} classes) | "
            f"{row[name]:.3f} |"
        )
    return results, "\n".join(lines) + f"\n\nClasses: {', '.join(classes)}.\n"


def finetune_report(workdir, pre, fine, classes, *, pretrain, rows, metric, figure) -> dict:
    """Writes a pre-train -> fine-tune experiment's results.json and results.md
    (`finetune_summary`'s, with the same arguments) and, on process 0, its figure; returns the
    results.

    figure: (file name, the pre-training loss's unit, the eval curve's label, the fine-tuning
    panel's title), drawn by `experiments.figures.finetune_figure` with `metric`'s curves.
    """
    results, table = finetune_summary(
        pre, fine, classes, pretrain=pretrain, rows=rows, metric=metric
    )
    if write_results(workdir, results, table):
        name, unit, eval_label, title = figure
        finetune_figure(
            workdir, pathlib.Path(workdir) / name, eval_label=eval_label,
            pretrain=(pretrain[:1].upper() + pretrain[1:], unit),
            finetune=(f"eval/{metric[0]}", metric[1], title),
        )  # fmt: skip
    return results
