"""An experiment's summary in its workdir: results.json and results.md, each written whole."""

import json
import os
import pathlib

import jax
from absl import logging


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
