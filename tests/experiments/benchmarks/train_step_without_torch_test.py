"""`benchmarks.train_step --skip_torch` runs where PyTorch is not installed (it imported torch at
the top of two modules and died with an ImportError before measuring anything)."""

import subprocess
import sys

from tests.experiments import run_experiment as rx


def test_skip_torch_measures_jax_with_torch_unimportable(tmp_path):
    blocker = tmp_path / "torch"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('PyTorch is not installed here')\n")
    env = {**rx.env(), "PYTHONPATH": f"{tmp_path}:{rx.ROOT}"}
    done = subprocess.run(
        [sys.executable, "-m", "experiments.benchmarks.train_step", "--preset=smoke",
         "--skip_torch", "--steps=1", "--warmup=0", "--attention_impl=none"],
        cwd=rx.ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout + done.stderr
    assert "torch not imported" in out and "torch device: not measured" in out
    assert "jax attention=einsum" in out and "median step" in out
