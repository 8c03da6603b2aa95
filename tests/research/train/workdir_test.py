"""Tests for research/train/workdir.py: writability check, config.json and the launch log."""

import json
import os
import pathlib
import shutil
import sys

import jax
import ml_collections
import pytest

from research.train.workdir import (
    check_usable,
    check_writable,
    config_changes,
    git_commit,
    package_versions,
    record_launch,
)


def _config():
    config = ml_collections.ConfigDict()
    config.seed = 3
    config.optimizer = ml_collections.ConfigDict({"learning_rate": 0.5, "decay": "cosine"})
    config.data = ml_collections.ConfigDict({"data_dir": None})
    return config


def test_check_writable_creates_missing_directories(tmp_path):
    path = check_writable(tmp_path / "a" / "b")
    assert path.is_dir() and list(path.iterdir()) == []  # the probe file is gone


def test_check_writable_refuses_a_path_under_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match=r"^Cannot write to --workdir=.*/file/sub \(.*\); choose"):
        check_writable(blocker / "sub")


def test_prepare_writes_the_config_and_one_launch_record_per_call(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py", "--config.seed=3"])
    config = _config()
    record_launch(check_writable(tmp_path), config)
    config.seed = 4
    record_launch(check_writable(tmp_path), config)
    assert json.loads((tmp_path / "config.json").read_text()) == {
        "seed": 4,  # the latest launch's config
        "optimizer": {"decay": "cosine", "learning_rate": 0.5},
        "data": {"data_dir": None},
    }
    records = [json.loads(line) for line in (tmp_path / "launches.jsonl").read_text().splitlines()]
    assert [r["config"]["seed"] for r in records] == [3, 4]
    assert [r["changed"] for r in records] == [{}, {"seed": [3, 4]}]  # the resume's change, named
    record = records[0]
    assert {"time", "argv", "config", "git", "python", "packages", "devices"} <= set(record)
    assert record["argv"] == ["train.py", "--config.seed=3"]
    assert record["packages"]["jax"] == jax.__version__
    assert record["python"] == sys.version.split()[0]
    assert len(record["devices"]) == jax.device_count()
    assert set(record["git"]) == {"commit", "dirty"}


def test_config_changes_are_every_differing_dotted_key():
    old = {"seed": 0, "optimizer": {"learning_rate": 0.1, "b1": 0.9}, "data": {"dir": None}}
    new = {"seed": 0, "optimizer": {"learning_rate": 0.2, "b1": 0.9}, "extra": 1, "data": {}}
    assert config_changes(old, new) == {"optimizer.learning_rate": [0.1, 0.2], "extra": [None, 1]}


def _head_from_files(root: pathlib.Path) -> str | None:
    """HEAD's commit read from the repository's files, without git: .git/HEAD, then the ref."""
    git = root / ".git"
    if git.is_file():  # a worktree or submodule: "gitdir: <path>"
        git = (root / git.read_text().split("gitdir:", 1)[1].strip()).resolve()
    if not git.is_dir():
        return None
    common = git / (git / "commondir").read_text().strip() if (git / "commondir").exists() else git
    head = (git / "HEAD").read_text().strip()
    if not head.startswith("ref: "):
        return head  # detached
    ref = head.removeprefix("ref: ")
    for base in (git, common):
        if (base / ref).is_file():
            return (base / ref).read_text().strip()
    packed = common / "packed-refs"
    lines = packed.read_text().splitlines() if packed.exists() else []
    return next((line.split()[0] for line in lines if line.endswith(f" {ref}")), None)


def test_git_commit_names_this_checkouts_head():
    root = pathlib.Path(__file__).resolve().parents[3]
    before = _head_from_files(root)
    info = git_commit()
    after = _head_from_files(root)  # a commit landing meanwhile moves HEAD; either one is right
    if before is None or shutil.which("git") is None:
        pytest.skip("not a git checkout, or git is missing")
    assert info["commit"] in (before, after)
    assert isinstance(info["dirty"], bool)


def test_package_versions_are_strings_or_none():
    versions = package_versions()
    assert versions["numpy"] == __import__("numpy").__version__
    assert all(v is None or isinstance(v, str) for v in versions.values())


def test_check_usable_accepts_a_missing_workdir_and_creates_nothing(tmp_path):
    check_usable(tmp_path / "a" / "b")
    check_usable("gs://bucket/run")  # not checked here: the loop's check_writable probes it
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "workdir, message",
    [
        ("file", r"^--workdir=.*/file is not a directory; choose a directory"),
        (
            "file/sub/run",
            r"^--workdir=.*/file/sub/run cannot be created: .*/file is not a directory",
        ),
        ("", r"^--workdir is empty"),
    ],
    ids=["a file", "under a file", "empty"],
)
def test_check_usable_refuses_what_cannot_be_a_directory(tmp_path, workdir, message):
    """train_lm wrote its tokenizer, and anomaly_detection its series, before any such check."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=message):
        check_usable(str(tmp_path / workdir) if workdir else "")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_check_usable_refuses_a_directory_this_user_cannot_write(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        with pytest.raises(ValueError, match=r"cannot be written: this user may not write in"):
            check_usable(locked / "run")
    finally:
        locked.chmod(0o755)


def test_check_usable_refuses_a_read_only_file_system(tmp_path, monkeypatch):
    """What statvfs reports for a read-only mount, where even root cannot write."""
    real_statvfs = os.statvfs

    class ReadOnly:
        def __init__(self, path):
            self.f_flag = real_statvfs(path).f_flag | os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", ReadOnly)
    with pytest.raises(ValueError, match=r"^--workdir=.*/run is on a read-only file system \("):
        check_usable(tmp_path / "run")
