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

matplotlib.use("Agg")  # files only: no display on servers, TPU VMs or CI
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)


def save(fig, path, **savefig_kwargs) -> None:
    """Writes `fig` to `path` whole (temporary file, then rename) and closes it. Default dpi 100."""
    path = pathlib.Path(path)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    fig.savefig(partial, **{"dpi": 100, **savefig_kwargs})
    plt.close(fig)
    os.replace(partial, path)


__all__ = ["plt", "save"]
