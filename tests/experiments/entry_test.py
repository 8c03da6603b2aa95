"""Tests for experiments/entry.py: user errors as one line, library errors with their traceback,
and the filter that keeps library INFO lines out of the progress output."""

import importlib.util
import logging
import signal
import time

import pytest

from experiments import entry
from experiments.configs.digits import mlp
from research.sharding.mesh import resolve_mesh_shape
from tests.experiments import run_experiment as rx


def _raise(fn, *args) -> BaseException:
    with pytest.raises(Exception) as info:  # noqa: PT011 - the exception itself is what we test
        fn(*args)
    return info.value


def _function_in(path, body: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"def fail(fn=None):\n    {body}\n")
    spec = importlib.util.spec_from_file_location(f"outside_{path.parent.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fail


def test_project_input_checks_count_as_the_projects():
    assert entry._raised_by_project(_raise(resolve_mesh_shape, 0, 1, 1, 8))  # research/
    assert entry._raised_by_project(_raise(mlp.get_config, "bogus"))  # experiments/


def test_an_error_raised_in_a_library_is_not_the_projects(tmp_path):
    library = _function_in(tmp_path / "lib" / "thirdparty.py", "raise ValueError('bug')")
    assert not entry._raised_by_project(_raise(library))
    # Called from project code or not, the innermost frame decides: a library bug keeps its trace.
    calls_back = _function_in(tmp_path / "lib2" / "calls.py", "fn()")
    assert entry._raised_by_project(_raise(calls_back, lambda: resolve_mesh_shape(0, 1, 1, 8)))
    assert not entry._raised_by_project(ValueError("never raised, so no traceback"))


def test_a_sibling_folder_with_a_similar_name_is_not_the_project(tmp_path, monkeypatch):
    monkeypatch.setattr(entry, "_PROJECT_DIRS", (str(tmp_path / "research"),))
    inside = _function_in(tmp_path / "research" / "mod.py", "raise ValueError('input')")
    assert entry._raised_by_project(_raise(inside))
    sibling = _function_in(tmp_path / "research_old" / "mod.py", "raise ValueError('bug')")
    assert not entry._raised_by_project(_raise(sibling))


def _record(pathname: str, level: int) -> logging.LogRecord:
    return logging.LogRecord("absl", level, pathname, 1, "message", None, None)


@pytest.mark.parametrize(
    "pathname",
    [
        "/venv/lib/python3.11/site-packages/orbax/checkpoint/checkpoint_manager.py",
        "/venv/lib/python3.11/site-packages/tensorflow_datasets/core/dataset_builder.py",
        "/venv/lib/python3.11/site-packages/jax/_src/xla_bridge.py",
    ],
)
def test_library_info_is_hidden_but_its_warnings_pass(pathname):
    quiet = entry._LibraryInfoFilter()
    assert not quiet.filter(_record(pathname, logging.INFO))
    assert not quiet.filter(_record(pathname, logging.DEBUG))
    assert quiet.filter(_record(pathname, logging.WARNING))
    assert quiet.filter(_record(pathname, logging.ERROR))


def test_project_info_passes():
    quiet = entry._LibraryInfoFilter()
    assert quiet.filter(_record(str(rx.ROOT / "research" / "train" / "loop.py"), logging.INFO))
    assert quiet.filter(_record("/venv/site-packages/jax/_src/distributed.py", logging.INFO))


def test_filter_works_on_a_real_handler():
    logger = logging.getLogger("entry_test")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    handler.addFilter(entry._LibraryInfoFilter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for pathname, level in [
            ("/x/orbax/checkpoint/a.py", logging.INFO),
            ("/x/orbax/checkpoint/a.py", logging.WARNING),
            ("/x/research/train/loop.py", logging.INFO),
        ]:
            logger.handle(_record(pathname, level))
    finally:
        logger.removeHandler(handler)
    assert [(r.pathname, r.levelno) for r in records] == [
        ("/x/orbax/checkpoint/a.py", logging.WARNING),
        ("/x/research/train/loop.py", logging.INFO),
    ]


def test_bad_input_is_one_error_line_and_exit_1(tmp_path):
    cmd = rx.command(
        "experiments.train_digits",
        "experiments/configs/digits/mlp.py:smoke",
        tmp_path / "run",
        f"--config.data.data_dir={tmp_path / 'data'}",
        "--config.data.batch_size=100000",
    )
    done = rx.run(cmd)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "100000" in errors[0], done.stderr[-2000:]
    # Said once: not also as a log line before it (every error used to print twice).
    assert done.stderr.count(errors[0].removeprefix("error: ")) == 1
    assert not (tmp_path / "run").exists()  # a refused first run leaves no empty workdir


@pytest.mark.parametrize(
    "config_flags, message",
    [
        (
            ["--config=experiments/configs/digits/mlp.py:smoke", "--config.optimizr.eps=1"],
            "error: --config.optimizr.eps names no key of the config ('optimizr' is not there; "
            'Did you mean "optimizer" instead of "optimizr"?)',
        ),
        (
            ["--config=experiments/configs/digits/nope.py"],
            "error: Cannot load the --config file: [Errno 2] No such file or directory: "
            "'experiments/configs/digits/nope.py'",
        ),
        (
            ["--config=experiments/configs/digits/mlp.py:bogus"],
            "(ValueError: Unknown config argument 'bogus'; use ':smoke' or nothing.)",
        ),
        (
            ["--config=experiments/configs/digits/mlp.py", "--config.optimizer.eps=abc"],
            "error: flag --config.optimizer.eps=abc: could not convert string to float: 'abc'",
        ),
    ],
    ids=["mistyped key", "missing file", "bad argument", "bad value"],
)
def test_bad_config_flags_get_one_line_and_status_1_and_write_nothing(
    tmp_path, config_flags, message
):
    """Each of these printed a 40-60-line traceback (or absl's usage text) before."""
    workdir = tmp_path / "run"
    cmd = [*rx.command("experiments.train_digits", "unused", workdir)]
    cmd = [c for c in cmd if not c.startswith("--config=")] + config_flags
    done = rx.run(cmd, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr[-2000:]
    assert not workdir.exists()


def test_sigterm_before_the_loop_stops_with_one_line_and_status_0(tmp_path):
    """SIGTERM while the script still imports (before the loop's own handler): it died with 143 and
    no message; now it says so and exits 0 (nothing was trained, so nothing is lost)."""
    started = time.monotonic()
    cmd = rx.command(
        "experiments.train_digits", "experiments/configs/digits/mlp.py:smoke", tmp_path / "run"
    )
    code, stderr = rx.run_until(cmd, lambda: time.monotonic() - started > 1.0, signal.SIGTERM)
    assert code == 0, stderr[-2000:]
    assert "SIGTERM outside the training loop" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize(
    "module, config, workdir, refused",
    [
        (
            "experiments.train_lm",
            "experiments/configs/lm/gpt_tiny.py:smoke",
            "file",
            "is not a directory",
        ),
        (
            "experiments.anomaly_detection",
            "experiments/configs/anomaly/conv.py:smoke",
            "file/run",
            "cannot be created: {file} is not a directory",
        ),
    ],
    ids=["train_lm", "anomaly_detection"],
)
def test_an_unusable_workdir_is_one_line_before_anything_is_written(
    tmp_path, module, config, workdir, refused
):
    """A regular file as --workdir (or above it): train_lm wrote its tokenizer first and
    anomaly_detection ended in a traceback; the check in `entry.run` now answers for every script."""
    file = tmp_path / "file"
    file.write_text("not a directory")
    done = rx.run(rx.command(module, config, tmp_path / workdir), timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: --workdir={tmp_path / workdir} {refused.format(file=file)}; choose a directory "
        "(it is created if missing)."
    ], done.stderr[-2000:]
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
    assert file.read_text() == "not a directory"
