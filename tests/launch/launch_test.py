"""Dry runs of launch/*.sh: the exact commands each would run, and that a dry run runs nothing.

Every script runs with an empty PATH, so calling any program (gcloud, git, python, pip) in a dry run
fails the test; printed lines are split into words by bash itself, and the remote commands are
executed against fake programs, so quoting is checked the way a shell will read it. Detached runs
are also started for real, with a fake experiment: they outlive their launcher, log, and stop.
"""

import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASH = shutil.which("bash")
TRAIN = ["train_lm", "experiments/configs/lm/gpt_tiny.py"]
# Words a careless quoting would split, expand or drop.
TRICKY = ['--config.name=it\'s a "b" $HOME `id`', "--config.empty=", ""]
GCLOUD = ["gcloud", "compute", "tpus", "tpu-vm"]
HOST = {"HOSTNAME": "testhost"}  # bash's own $HOSTNAME names each host's log and pid file

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


WAITER = """'"${@:3}" & echo $! >"$1"; wait $!; echo $? >"$2"'"""


def detached(command, log, pid):
    """The lines that start `command` (a list of words) detached, appending to log, pid in pid and
    its exit status, when it ends, in the .exit file beside it."""
    status = pid.replace(".pid", ".exit")
    return [
        f"rm -f {pid} {status}",
        f"setsid nohup {BASH} -c {WAITER} detached {pid} {status} {command} >>{log} 2>&1 "
        "</dev/null &",
    ]


def alive(pid):
    """Whether pid runs; a zombie (ended, not yet reaped by its parent) does not."""
    if not Path("/proc/self").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(condition, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


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


def test_local_detach_starts_the_run_in_the_background_with_a_log(tmp_path):
    venv = tmp_path / "venv"
    fake_program(venv / "bin" / "python")
    env = {"LAUNCH_VENV": venv, **HOST}
    args = ("--detach", "run", *TRAIN, "runs/a b", "--config.seed=1")
    mkdir, *start = dry_run(tmp_path, "local.sh", *args, **env)
    assert words(mkdir) == ["mkdir", "-p", "runs/a b/logs"]
    command = f"{venv}/bin/python -m experiments.train_lm --config={TRAIN[1]}"
    command += " --workdir='runs/a b' --config.seed=1"
    assert start == detached(
        command, "'runs/a b/logs/testhost.log'", "'runs/a b/logs/testhost.pid'"
    )


def test_gpu_installs_the_cuda_extra_and_sets_the_memory_fraction(tmp_path):
    venv = tmp_path / "venv"
    run = ["env", "XLA_PYTHON_CLIENT_MEM_FRACTION=0.9", f"{venv}/bin/python", "-m"]
    run += ["experiments.train_lm", f"--config={TRAIN[1]}", "--workdir=w", "--config.x=1"]
    install = [f"{venv}/bin/pip", "install", "-e", f"{ROOT}[cuda]"]
    args = ("--foreground", *TRAIN, "w", "--config.x=1")

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


def test_gpu_runs_detached_by_default_and_logs_per_host(tmp_path):
    venv = tmp_path / "venv"
    fake_program(venv / "bin" / "python")
    (venv / "lib" / "python3.12" / "site-packages" / "jax_cuda12_plugin").mkdir(parents=True)
    env = {"LAUNCH_VENV": venv, "HOME": tmp_path / "home", **HOST}
    command = f"env XLA_PYTHON_CLIENT_MEM_FRACTION=0.9 {venv}/bin/python -m experiments.train_lm"
    command += f" --config={TRAIN[1]}"
    # The old form (no command) is `run`; a local workdir holds its logs.
    lines = dry_run(tmp_path, "gpu.sh", *TRAIN, "runs/w", **env)
    assert lines == [
        "nvidia-smi -L",
        "mkdir -p runs/w/logs",
        *detached(
            f"{command} --workdir=runs/w", "runs/w/logs/testhost.log", "runs/w/logs/testhost.pid"
        ),
    ]
    # A gs:// workdir cannot be appended to: the log lives under ~/research-logs on each host.
    logs = f"{tmp_path}/home/research-logs/gs/bucket/runs/x"
    lines = dry_run(tmp_path, "gpu.sh", "run", *TRAIN, "gs://bucket/runs/x/", **env)
    assert lines == [
        "nvidia-smi -L",
        f"mkdir -p {logs}",
        *detached(
            f"{command} --workdir=gs://bucket/runs/x/",
            f"{logs}/testhost.log",
            f"{logs}/testhost.pid",
        ),
    ]


@pytest.mark.parametrize("script", ["local.sh", "gpu.sh"])
def test_logs_status_and_stop_find_the_run_by_its_workdir(tmp_path, script):
    env = {"HOME": tmp_path / "home", **HOST}
    logs = f"{tmp_path}/home/research-logs/gs/b/x"
    assert dry_run(tmp_path, script, "logs", "runs/w/", **env) == [
        "tail -F runs/w/logs/testhost.log"
    ]
    assert dry_run(tmp_path, script, "logs", "gs://b/x", **env) == [f"tail -F {logs}/testhost.log"]
    assert dry_run(tmp_path, script, "status", "runs/w", **env) == [
        "tail -n 1 runs/w/metrics.jsonl"
    ]
    assert dry_run(tmp_path, script, "status", "gs://b/x", **env) == [
        f"grep -E 'step +[0-9]+/[0-9]+ [|]' {logs}/testhost.log | tail -n 1"
    ]

    workdir = tmp_path / "w"
    proc = launch(tmp_path, script, "--dry-run", "stop", workdir, **env)
    assert (proc.returncode, proc.stdout) == (0, "")
    assert (
        proc.stderr
        == f"testhost: no run started here (no {workdir}/logs/testhost.pid), nothing to stop.\n"
    )

    (workdir / "logs").mkdir(parents=True)
    run = subprocess.Popen(["sleep", "30"])
    try:
        (workdir / "logs" / "testhost.pid").write_text(f"{run.pid}\n")
        assert dry_run(tmp_path, script, "stop", workdir, **env) == [f"kill -TERM {run.pid}"]
        assert run.poll() is None, "a dry run sent the signal"
        # No second run in a workdir whose run goes on (it would write the same checkpoints).
        proc = launch(tmp_path, script, "--dry-run", *TRAIN, workdir, **env)
        assert (proc.returncode, proc.stdout) == (1, "")
        assert proc.stderr.startswith(f"{script}: a run is already going in {workdir} on testhost")
        assert f"(pid {run.pid})" in proc.stderr

        # Ended but not reaped: a zombie (as under a PID 1 that never reaps), which kill -0 finds.
        os.kill(run.pid, signal.SIGKILL)
        wait_for(lambda: not alive(run.pid), "the killed process to end")
        os.kill(run.pid, 0)
        proc = launch(tmp_path, script, "status", workdir, **env)  # real, yet runs no program here
        assert proc.returncode == 1, proc.stderr  # ended, and how is unknown: not a success
        assert proc.stdout.splitlines() == [
            f"testhost: not running (pid {run.pid} has ended; its exit status was not recorded); "
            f"log {workdir}/logs/testhost.log",
            f"testhost: last step: none yet in {workdir}/metrics.jsonl",
        ]
        # The exit status its waiter recorded decides: 0 is a run that ended well.
        for status, code in [(0, 0), (2, 1)]:
            (workdir / "logs" / "testhost.exit").write_text(f"{status}\n")
            proc = launch(tmp_path, script, "status", workdir, **env)
            assert proc.returncode == code, proc.stderr
            assert proc.stdout.splitlines()[0] == (
                f"testhost: not running (pid {run.pid} exited with status {status}); "
                f"log {workdir}/logs/testhost.log"
            )
    finally:
        run.kill()
        run.wait()


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


def test_tpu_run_starts_the_experiment_detached_on_every_worker(tmp_path):
    args = ("--name", "lm", "--zone", "z", "run", *TRAIN, "gs://bucket/runs/lm", *TRICKY)
    (line,) = dry_run(tmp_path, "tpu_vm.sh", *args)
    argv = words(line)
    assert argv[:-1] == GCLOUD + ["ssh", "lm", "--zone=z", "--worker=all"]
    remote = argv[-1].removeprefix("--command=")
    assert remote.startswith(
        "cd research && if [ ! -x .venv/bin/python ]; then"
        ' echo "no .venv in $PWD: run launch/tpu_vm.sh setup first." >&2; exit 1; fi'
        " && RESEARCH_DISTRIBUTED=1 bash launch/local.sh --detach run experiments.train_lm"
        f" {TRAIN[1]} gs://bucket/runs/lm --config.name="
    )

    # Before setup, a worker says so instead of making a venv with the image's old Python.
    home = tmp_path / "home"
    (home / "research").mkdir(parents=True)
    proc = subprocess.run(
        [BASH, "-c", remote], cwd=home, capture_output=True, text=True, timeout=30
    )
    assert (proc.returncode, proc.stderr) == (
        1,
        f"no .venv in {home}/research: run launch/tpu_vm.sh setup first.\n",
    )

    # What each worker's shell does with it: cd into the code and start local.sh --detach, which
    # sets the flag, passes argv unchanged and logs under ~/research-logs for a gs:// workdir.
    shutil.copytree(ROOT / "launch", home / "research" / "launch")
    python = fake_program(home / "research" / ".venv" / "bin" / "python")
    env = {**os.environ, "HOME": str(home), **HOST}
    proc = subprocess.run(
        [BASH, "-c", remote], cwd=home, env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    logs = home / "research-logs" / "gs" / "bucket" / "runs" / "lm"
    pid = int((logs / "testhost.pid").read_text())
    assert (
        proc.stdout == f"testhost: started pid {pid}, its output appended to {logs}/testhost.log\n"
    )
    wait_for(lambda: not alive(pid), "the fake experiment to end")
    assert recorded(python) == (
        str(home / "research"),
        "1",
        ["-m", "experiments.train_lm", f"--config={TRAIN[1]}", "--workdir=gs://bucket/runs/lm"]
        + TRICKY,
    )


def test_tpu_logs_status_and_stop(tmp_path):
    env = {"TPU_NAME": "lm", "TPU_ZONE": "z"}
    ssh = GCLOUD + ["ssh", "lm", "--zone=z"]
    (line,) = dry_run(tmp_path, "tpu_vm.sh", "logs", "runs/a b", **env)
    assert words(line) == ssh + ["--worker=0", "--ssh-flag=-t"] + [
        "--command=cd research && bash launch/local.sh logs 'runs/a b'"
    ]
    (line,) = dry_run(tmp_path, "tpu_vm.sh", "--worker", "3", "logs", "gs://b/r", **env)
    assert words(line)[7] == "--worker=3"
    for command in ["status", "stop"]:
        (line,) = dry_run(tmp_path, "tpu_vm.sh", command, "gs://b/r", **env)
        assert words(line) == ssh + ["--worker=all"] + [
            f"--command=cd research && bash launch/local.sh {command} gs://b/r"
        ]


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
        (["status"], {"TPU_NAME": "lm", "TPU_ZONE": "z"}, "'status' takes exactly one argument"),
        (["logs", "a", "b"], {"TPU_NAME": "lm", "TPU_ZONE": "z"}, "'logs' takes exactly one"),
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
        (["status"], "'status' takes exactly one argument, the run's workdir"),
        (["stop", "w1", "w2"], "'stop' takes exactly one argument"),
        (["logs", ""], "'logs' takes exactly one argument"),
    ]:
        proc = launch(tmp_path, script, "--dry-run", *args)
        assert (proc.returncode, proc.stdout) == (2, ""), args
        assert proc.stderr.startswith(f"{script}: {message}"), proc.stderr
        assert proc.stderr.count("\n") == 1


def test_without_dry_run_a_missing_gcloud_is_reported(tmp_path):
    proc = launch(tmp_path, "tpu_vm.sh", "delete", TPU_NAME="lm", TPU_ZONE="z")
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.startswith("tpu_vm.sh: gcloud not found")


@pytest.mark.parametrize("script", ["local.sh", "gpu.sh"])
def test_without_dry_run_a_missing_setsid_is_reported_before_anything_runs(tmp_path, script):
    proc = launch(tmp_path, script, "--detach", *TRAIN, tmp_path / "w")
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.startswith(f"{script}: setsid not found")
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("script", ["local.sh", "gpu.sh", "tpu_vm.sh"])
def test_help(tmp_path, script):
    for flag in ["-h", "--help"]:
        proc = launch(tmp_path, script, flag)
        assert proc.returncode == 0
        assert proc.stdout.startswith(f"usage: launch/{script} [")
        assert "--dry-run" in proc.stdout


FAKE_EXPERIMENT = r"""#!BASH
# A training run in miniature: a step every 20 ms, a metrics line per step, SIGTERM ends it cleanly.
trap 'echo "fake: SIGTERM at step $step"; exit 0' TERM
printf '%s\0' "$@" >"$0.argv"
for arg; do case $arg in --workdir=*) workdir=${arg#--workdir=} ;; esac; done
echo "fake: started"
step=0
while :; do
  step=$((step + 1))
  echo "step $step/1000 | loss 1.0"
  echo "{\"step\": $step}" >>"$workdir/metrics.jsonl"
  sleep 0.02
done
"""


def test_gpu_detached_run_outlives_its_shell_and_stops_on_sigterm(tmp_path):
    """For real: gpu.sh run, status, stop with a fake experiment that runs until SIGTERM."""
    venv, fake_bin, workdir = tmp_path / "venv", tmp_path / "bin", tmp_path / "work dir"
    python = venv / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_EXPERIMENT.replace("BASH", BASH))
    python.chmod(0o755)
    (venv / "lib" / "python3.12" / "site-packages" / "jax_cuda12_plugin").mkdir(parents=True)
    fake_program(fake_bin / "nvidia-smi")
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}", "LAUNCH_VENV": str(venv)}
    env.update(HOST)

    def gpu(*args):
        # Output captured through pipes: a run that kept them open would hang this call.
        proc = subprocess.run(
            [BASH, str(ROOT / "launch" / "gpu.sh"), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    log = workdir / "logs" / "testhost.log"
    pid = None
    try:
        # The launching shell exits at once; the run goes on, in a session of its own.
        started = gpu("run", *TRAIN, str(workdir), *TRICKY)[0]
        pid = int((workdir / "logs" / "testhost.pid").read_text())
        assert started == f"testhost: started pid {pid}, its output appended to {log}"
        wait_for(lambda: "step 3/1000" in log.read_text(), "the log to show step 3")
        assert os.getsid(pid) != os.getsid(0)  # a session of its own (setsid), its waiter's
        assert log.read_text().startswith("fake: started\n")
        assert Path(f"{python}.argv").read_text().split("\0")[:-1] == [
            "-m",
            "experiments.train_lm",
            f"--config={TRAIN[1]}",
            f"--workdir={workdir}",
            *TRICKY,
        ]
        # A hangup (the terminal closing) does not stop it: nohup.
        os.kill(pid, signal.SIGHUP)
        steps = log.read_text().count("\nstep ")
        wait_for(lambda: log.read_text().count("\nstep ") > steps + 2, "steps after SIGHUP")

        running, last = gpu("status", str(workdir))
        assert running == f"testhost: running (pid {pid}); log {log}"
        assert last.startswith('testhost: last step: {"step": ')

        assert gpu("stop", str(workdir)) == [
            f"testhost: sent SIGTERM to pid {pid}; it saves a checkpoint at the next step, "
            "then exits."
        ]
        wait_for(lambda: not alive(pid), "the run to exit after SIGTERM")
        assert "fake: SIGTERM at step " in log.read_text().splitlines()[-1]
        wait_for((workdir / "logs" / "testhost.exit").exists, "the waiter to record the exit")
        stopped, _ = gpu("status", str(workdir))
        assert stopped == f"testhost: not running (pid {pid} exited with status 0); log {log}"
    finally:
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_every_script_the_readmes_invoke_is_committed_executable():
    """The README runs `launch/tpu_vm.sh create` as written: without the execute bit in git, a
    fresh clone answers "Permission denied" (tpu_vm.sh was committed 100644)."""
    invoked = set()
    for readme in (ROOT / "README.md", ROOT / "launch" / "README.md"):
        invoked |= set(re.findall(r"(?<![\w/])(launch/\w+\.sh)\b", readme.read_text()))
    assert {"launch/local.sh", "launch/gpu.sh", "launch/tpu_vm.sh"} <= invoked
    staged = subprocess.run(
        ["git", "ls-files", "-s", *sorted(invoked)], cwd=ROOT, capture_output=True, text=True
    )
    if staged.returncode != 0 or not staged.stdout:
        pytest.skip("not a git checkout")  # e.g. an unpacked source archive
    modes = {line.split()[3]: line.split()[0] for line in staged.stdout.splitlines()}
    assert modes == {path: "100755" for path in invoked}
    assert all(os.access(ROOT / path, os.X_OK) for path in invoked)


@pytest.mark.parametrize("script", ["local.sh", "gpu.sh"])
def test_a_detached_run_that_dies_at_start_says_so_and_exits_1(tmp_path, script):
    """`--detach run <module typo>` printed "started pid N" and exited 0; `status` then said "not
    running (pid has ended)" with exit 0. Now both give the exit status (and the log's end)."""
    venv, fake_bin, workdir = tmp_path / "venv", tmp_path / "bin", tmp_path / "w"
    python = venv / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!{BASH}\necho 'No module named experiments.trian_lm' >&2\nexit 3\n")
    python.chmod(0o755)
    (venv / "lib" / "python3.12" / "site-packages" / "jax_cuda12_plugin").mkdir(parents=True)
    fake_program(fake_bin / "nvidia-smi")
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}", "LAUNCH_VENV": str(venv)}
    env.update(HOST, LAUNCH_START_WAIT="20")  # it dies within the wait; a loaded machine is slow

    def launcher(*args):
        return subprocess.run(
            [BASH, str(ROOT / "launch" / script), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    log = workdir / "logs" / "testhost.log"
    started = launcher("--detach", "run", "trian_lm", TRAIN[1], str(workdir))
    pid = int((workdir / "logs" / "testhost.pid").read_text())
    assert started.returncode == 1, started.stdout
    assert "started pid" not in started.stdout
    assert started.stderr.splitlines()[-2:] == [
        f"testhost: the run (pid {pid}) exited with status 3 as it started; the last lines of "
        f"{log}:",
        "No module named experiments.trian_lm",
    ]
    status = launcher("status", str(workdir))
    assert status.returncode == 1
    assert status.stdout.splitlines()[0] == (
        f"testhost: not running (pid {pid} exited with status 3); log {log}"
    )
