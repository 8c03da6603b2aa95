"""Making a workdir self-describing: config, command line, git commit and package versions.

`check_usable` refuses a workdir that cannot be one (a file, a read-only or unwritable place) without
creating or writing anything, so experiments call it before any of their work (`experiments.entry`
does, for every entry script); `check_writable` creates the directory and proves it can be
written before training starts; `record_launch`
writes `config.json` (the config of the latest launch) and appends one record per launch to
`launches.jsonl` (time, argv, config, git commit, package versions, devices). The loop records a
launch only after the workdir's checkpoint was found compatible, so a refused launch leaves the
config that wrote the checkpoint in place.
"""

import datetime
import importlib.metadata
import json
import os
import pathlib
import subprocess
import sys

import jax
from absl import logging
from etils import epath

PACKAGES = (
    "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "grain", "tensorflow-datasets",
    "ml-collections", "numpy", "absl-py",
)  # fmt: skip


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> dict[str, str | bool | None]:
    """The commit of the code being run and whether the tree had uncommitted changes."""
    root = pathlib.Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        return {"commit": commit, "dirty": bool(dirty)}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def check_usable(workdir) -> None:
    """Raises ValueError (one sentence) unless `workdir` is, or can be created as, a directory this
    process can write to; creates and writes nothing. URIs such as gs://bucket/dir are not checked.

    The nearest existing path on the way up decides: it must be a directory, writable, on a
    file system mounted read-write.
    """
    if "://" in str(workdir):
        return
    if not str(workdir):
        raise ValueError("--workdir is empty; pass the directory for the run's checkpoints.")
    path = pathlib.Path(os.path.abspath(workdir))
    existing = path
    while not os.path.lexists(existing):
        existing = existing.parent
    named = f"--workdir={workdir}"
    if not existing.is_dir():
        what = "is" if existing == path else f"cannot be created: {existing} is"
        raise ValueError(
            f"{named} {what} not a directory; choose a directory (it is created if missing)."
        )
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        raise ValueError(
            f"{named} is on a read-only file system ({existing}); choose a directory you can "
            "write to."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"{named} cannot be written: this user may not write in {existing}; choose a "
            "directory you can write to, or fix its permissions."
        )


def check_writable(workdir) -> epath.Path:
    """Creates `workdir` if needed and proves it is writable, or raises ValueError saying so.

    Returns the path made absolute (Orbax refuses relative checkpoint paths); URIs such as
    gs://bucket/dir are kept as they are.
    """
    path = epath.Path(workdir if "://" in str(workdir) else os.path.abspath(workdir))
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise ValueError(
            f"Cannot write to --workdir={workdir} ({e.strerror or e}); choose a directory you can "
            "write to, or fix its permissions."
        ) from e
    return path


def config_changes(old: dict, new: dict, prefix: str = "") -> dict[str, list]:
    """{'optimizer.learning_rate': [old, new], ...}: every dotted key whose value differs between
    two configs as JSON (a key only one side has is compared with None)."""
    changes = {}
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes |= config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changes[f"{prefix}{key}"] = [a, b]
    return changes


def record_launch(workdir, config) -> None:
    """Writes config.json and appends this launch to launches.jsonl (process 0 only).

    A resumed run may change its config (more steps, another learning rate; shapes are refused
    by the checkpoint restore): every changed key is logged as a warning and listed under
    'changed' in the launch record, and every launch's whole config stays in launches.jsonl.
    """
    path = epath.Path(workdir)
    if jax.process_index() != 0:
        return
    config_json = json.loads(config.to_json_best_effort())
    changed = {}
    if (path / "config.json").exists():
        changed = config_changes(json.loads((path / "config.json").read_text()), config_json)
        if changed:
            shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            logging.warning("This launch changes the workdir's config: %s.", shown)
    (path / "config.json").write_text(json.dumps(config_json, indent=2, sort_keys=True) + "\n")
    record = {
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "argv": sys.argv,
        "config": config_json,
        "git": git_commit(),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "devices": [str(d) for d in jax.devices()],
        "process_count": jax.process_count(),
        "changed": changed,
    }
    with (path / "launches.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")
