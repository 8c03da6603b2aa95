"""Dry runs of launch/*.sh: the exact commands each would run, and that a dry run runs nothing.

Every script runs with an empty PATH, so calling any program (gcloud, git, python, pip) in a dry run
fails the test; printed lines are split into words by bash itself, and the remote commands are
executed against fake programs, so quoting is checked the way a shell will read it.
"""

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASH = shutil.which("bash")
TRAIN = ["train_lm", "experiments/configs/lm/gpt_tiny.py"]
# Words a careless quoting would split, expand or drop.
TRICKY = ['--config.name=it\'s a "b" $HOME `id`', "--config.empty=", ""]
GCLOUD = ["gcloud", "compute", "tpus", "tpu-vm"]

pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")


def launch(tmp_path, script, *args, **env):
    """Runs launch/<script> with an empty PATH and only `env`, in an empty cwd it must not touch."""
    cwd = tmp_path / "cwd"
    empty = tmp_path / "empty-bin"
    cwd.mkdir(exist_ok=True)
    empty.mkdir(exist_ok=True)
    proc = subprocess.run(
        [BASH, str(ROOT / "launch" / script), *args],
        env={"PATH": str(empty), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert list(cwd.iterdir()) == [], "the script wrote into the working directory"
    return proc


def dry_run(tmp_path, script, *args, **env):
    proc = launch(tmp_path, script, "--dry-run", *args, **env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout.splitlines()


def words(line):
    """The argv bash builds from one printed command line."""
    out = subprocess.run(
        [BASH, "-c", "printf '%s\\0' " + line], capture_output=True, text=True, check=True
    )
    return out.stdout.split("\0")[:-1]


def fake_program(path):
    """An executable that records its argv, cwd and RESEARCH_DISTRIBUTED in <path>.log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = 'printf "%s\\0" "$PWD" "${RESEARCH_DISTRIBUTED-unset}" "$@"'
    path.write_text(f'#!{BASH}\n{record} > "{path}.log"\n')
    path.chmod(0o755)
    return path


def recorded(path):
    cwd, distributed, *argv = Path(f"{path}.log").read_text().split("\0")[:-1]
    return cwd, distributed, argv


def test_local_creates_the_venv_only_when_missing(tmp_path):
    venv = tmp_path / "venv"
    lines = dry_run(tmp_path, "local.sh", *TRAIN, "runs/x", "--config.seed=1", LAUNCH_VENV=venv)
    assert [words(line) for line in lines] == [
        ["python3", "-m", "venv", str(venv)],
        [f"{venv}/bin/pip", "install", "-e", str(ROOT)],
        [f"{venv}/bin/python", "-m", "experiments.train_lm", f"--config={TRAIN[1]}"]
        + ["--workdir=runs/x", "--config.seed=1"],
    ]
    assert not venv.exists()

    fake_program(venv / "bin" / "python")
    lines = dry_run(tmp_path, "local.sh", "experiments.train_lm", TRAIN[1], "w", LAUNCH_VENV=venv)
    assert [words(line) for line in lines] == [
        [f"{venv}/bin/python", "-m", "experiments.train_lm", f"--config={TRAIN[1]}", "--workdir=w"],
    ]


def test_local_passes_extra_flags_through_unchanged(tmp_path):
    venv = tmp_path / "venv"
    python = fake_program(venv / "bin" / "python")
    (line,) = dry_run(tmp_path, "local.sh", *TRAIN, "runs/a b", *TRICKY, LAUNCH_VENV=venv)
    assert words(line)[1:] == ["-m", "experiments.train_lm", f"--config={TRAIN[1]}"] + [
        "--workdir=runs/a b",
        *TRICKY,
    ]
    subprocess.run([BASH, "-c", line], check=True, env={"PATH": ""})
    assert recorded(python)[2] == words(line)[1:]


def test_gpu_installs_the_cuda_extra_and_sets_the_memory_fraction(tmp_path):
    venv = tmp_path / "venv"
    run = ["env", "XLA_PYTHON_CLIENT_MEM_FRACTION=0.9", f"{venv}/bin/python", "-m"]
    run += ["experiments.train_lm", f"--config={TRAIN[1]}", "--workdir=w", "--config.x=1"]
    install = [f"{venv}/bin/pip", "install", "-e", f"{ROOT}[cuda]"]
    args = (*TRAIN, "w", "--config.x=1")

    lines = dry_run(tmp_path, "gpu.sh", *args, LAUNCH_VENV=venv)
    assert [words(line) for line in lines] == [
        ["python3", "-m", "venv", str(venv)],
        install,
        ["nvidia-smi", "-L"],
        run,
    ]
    # A CPU-only venv (made by local.sh) still gets the CUDA extra; one that has it does not.
    fake_program(venv / "bin" / "python")
    lines = dry_run(tmp_path, "gpu.sh", *args, LAUNCH_VENV=venv)
    assert [words(line) for line in lines] == [install, ["nvidia-smi", "-L"], run]
    (venv / "lib" / "python3.12" / "site-packages" / "jax_cuda12_plugin").mkdir(parents=True)
    lines = dry_run(tmp_path, "gpu.sh", *args, LAUNCH_VENV=venv)
    assert [words(line) for line in lines] == [["nvidia-smi", "-L"], run]

    lines = dry_run(
        tmp_path, "gpu.sh", *args, LAUNCH_VENV=venv, XLA_PYTHON_CLIENT_MEM_FRACTION="0.5"
    )
    assert words(lines[-1])[1] == "XLA_PYTHON_CLIENT_MEM_FRACTION=0.5"


def test_tpu_create_from_flags_and_environment(tmp_path):
    (line,) = dry_run(tmp_path, "tpu_vm.sh", "create", "--name", "lm", "--zone=us-west4-a")
    assert words(line) == GCLOUD + ["create", "lm", "--zone=us-west4-a"] + [
        "--accelerator-type=v5litepod-8",
        "--version=v2-alpha-tpuv5-lite",
    ]
    env = {"TPU_NAME": "env-name", "TPU_ZONE": "europe-west4-b", "TPU_PROJECT": "proj"}
    args = ("--name=lm", "--type", "v6e-16", "--version", "v2-alpha-tpuv6e", "--spot", "create")
    (line,) = dry_run(tmp_path, "tpu_vm.sh", *args, **env)
    assert words(line) == GCLOUD + ["create", "lm", "--zone=europe-west4-b", "--project=proj"] + [
        "--accelerator-type=v6e-16",
        "--version=v2-alpha-tpuv6e",
        "--spot",
    ]


def test_tpu_run_starts_the_experiment_on_every_worker(tmp_path):
    args = ("--name", "lm", "--zone", "z", "run", *TRAIN, "gs://bucket/runs/lm", *TRICKY)
    (line,) = dry_run(tmp_path, "tpu_vm.sh", *args)
    argv = words(line)
    assert argv[:-1] == GCLOUD + ["ssh", "lm", "--zone=z", "--worker=all"]
    assert argv[-1].startswith("--command=cd research && RESEARCH_DISTRIBUTED=1 .venv/bin/python ")

    # What each worker's shell does with it: cd into the code, set the flag, pass argv unchanged.
    home = tmp_path / "home"
    python = fake_program(home / "research" / ".venv" / "bin" / "python")
    subprocess.run([BASH, "-c", argv[-1].removeprefix("--command=")], cwd=home, check=True)
    assert recorded(python) == (
        str(home / "research"),
        "1",
        ["-m", "experiments.train_lm", f"--config={TRAIN[1]}", "--workdir=gs://bucket/runs/lm"]
        + TRICKY,
    )


def test_tpu_setup_builds_a_venv_with_the_tpu_extra_on_every_worker(tmp_path):
    (line,) = dry_run(tmp_path, "tpu_vm.sh", "setup", "--dir=code", TPU_NAME="lm", TPU_ZONE="z")
    assert words(line) == GCLOUD + ["ssh", "lm", "--zone=z", "--worker=all"] + [
        "--command=cd code && PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --user --quiet uv"
        " && { [ -x .venv/bin/python ] || python3 -m uv venv --seed --python 3.12 .venv; }"
        ' && python3 -m uv pip install --python .venv/bin/python -e ".[tpu]"'
    ]


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_tpu_sync_ships_the_code_without_venv_runs_or_git(tmp_path):
    env = {"TPU_NAME": "lm", "TPU_ZONE": "z", "TMPDIR": str(tmp_path)}
    pack, scp, ssh, clean = dry_run(tmp_path, "tpu_vm.sh", "sync", **env)
    tarball = tmp_path / "research-sync-lm.tar.gz"
    assert words(scp) == GCLOUD + ["scp", str(tarball), "lm:research-sync.tar.gz", "--zone=z"] + [
        "--worker=all"
    ]
    assert words(ssh)[:-1] == GCLOUD + ["ssh", "lm", "--zone=z", "--worker=all"]
    assert words(clean) == ["rm", "-f", str(tarball)]

    subprocess.run([BASH, "-o", "pipefail", "-c", pack], check=True, env=os.environ)
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert {"pyproject.toml", "launch/tpu_vm.sh", "tests/launch/launch_test.py"} <= set(names)
    for name in names:
        assert not name.startswith((".venv/", "runs/", ".git/")), name
        assert "__pycache__" not in name and ".egg-info/" not in name, name

    # A worker unpacks it into the code directory and removes it.
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(tarball, home / "research-sync.tar.gz")
    unpack = words(ssh)[-1].removeprefix("--command=")
    subprocess.run([BASH, "-c", unpack], cwd=home, check=True, env=os.environ)
    assert (home / "research" / "launch" / "tpu_vm.sh").is_file()
    assert sorted(p.name for p in home.iterdir()) == ["research"]


def test_tpu_fetch_copies_a_vm_workdir_from_worker_0(tmp_path):
    env = {"TPU_NAME": "lm", "TPU_ZONE": "z", "TPU_PROJECT": "p"}
    mkdir, scp = dry_run(tmp_path, "tpu_vm.sh", "fetch", "runs/gpt/", **env)
    assert words(mkdir) == ["mkdir", "-p", f"{ROOT}/runs/lm"]
    source, dest = "lm:research/runs/gpt", f"{ROOT}/runs/lm"
    flags = ["--zone=z", "--project=p", "--worker=0"]
    assert words(scp) == GCLOUD + ["scp", "--recurse", source, dest, *flags]
    _, scp = dry_run(tmp_path, "tpu_vm.sh", "fetch", "/mnt/disk/run1", **env)
    assert words(scp)[6] == "lm:/mnt/disk/run1"

    proc = launch(tmp_path, "tpu_vm.sh", "--dry-run", "fetch", "gs://bucket/run", **env)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert "gcloud storage cp" in proc.stderr


def test_tpu_delete(tmp_path):
    (line,) = dry_run(tmp_path, "tpu_vm.sh", "delete", TPU_NAME="lm", TPU_ZONE="z")
    assert words(line) == GCLOUD + ["delete", "lm", "--zone=z", "--quiet"]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["create"], {"TPU_ZONE": "z"}, "missing --name"),
        (["run", *TRAIN, "w"], {"TPU_NAME": "lm"}, "missing --zone"),
        ([], {"TPU_NAME": "lm", "TPU_ZONE": "z"}, "missing command"),
        (["start"], {"TPU_NAME": "lm", "TPU_ZONE": "z"}, "unknown command 'start'"),
        (["--nmae", "lm", "create"], {"TPU_ZONE": "z"}, "unknown option '--nmae'"),
        (["create", "--zone"], {"TPU_NAME": "lm"}, "option --zone needs a value"),
        (["run", *TRAIN], {"TPU_NAME": "lm", "TPU_ZONE": "z"}, "expected <module> <config>"),
        (["delete", "now"], {"TPU_NAME": "lm", "TPU_ZONE": "z"}, "'delete' takes no arguments"),
    ],
)
def test_tpu_bad_usage_exits_2_with_one_clear_line(tmp_path, args, env, message):
    proc = launch(tmp_path, "tpu_vm.sh", "--dry-run", *args, **env)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith(f"tpu_vm.sh: {message}")
    assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize("script", ["local.sh", "gpu.sh"])
def test_local_and_gpu_bad_usage_exits_2(tmp_path, script):
    for args, message in [
        (["train_lm", "c.py"], "expected <module> <config> <workdir>"),
        (["train-lm", "c.py", "w"], "module 'train-lm' is not a Python module name"),
        (["--fast", "train_lm", "c.py", "w"], "unknown option '--fast'"),
    ]:
        proc = launch(tmp_path, script, "--dry-run", *args)
        assert (proc.returncode, proc.stdout) == (2, ""), args
        assert proc.stderr.startswith(f"{script}: {message}"), proc.stderr


def test_without_dry_run_a_missing_gcloud_is_reported(tmp_path):
    proc = launch(tmp_path, "tpu_vm.sh", "delete", TPU_NAME="lm", TPU_ZONE="z")
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.startswith("tpu_vm.sh: gcloud not found")


@pytest.mark.parametrize("script", ["local.sh", "gpu.sh", "tpu_vm.sh"])
def test_help(tmp_path, script):
    for flag in ["-h", "--help"]:
        proc = launch(tmp_path, script, flag)
        assert proc.returncode == 0
        assert proc.stdout.startswith(f"usage: launch/{script} [")
        assert "--dry-run" in proc.stdout
