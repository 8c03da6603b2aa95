"""The attention cost experiment in smoke mode: its files and table, the slope fit, the memory
measurement (dense temp memory grows as T^2, the banded window's as T), and config checks."""

import json

import numpy as np
import pytest

from experiments import attention_cost
from experiments.configs.attention import cost
from tests.config_overrides import with_overrides


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("attention_cost")
    return workdir, attention_cost.main(cost.get_config("smoke"), workdir)


def test_smoke_run_writes_table_and_plots(smoke):
    workdir, results = smoke
    config = cost.get_config("smoke")
    assert json.loads((workdir / "results.json").read_text()) == results
    assert list(results["runs"]) == config.implementations.split(",")
    table = (workdir / "results.md").read_text()
    for length in config.lengths:
        assert f"| {length} |" in table
    for name, by_length in results["runs"].items():
        for length in config.lengths:
            row = by_length[str(length)]
            assert row["seconds"] > 0 and row["temp_bytes"] > 0, (name, length)
    for png in ("cost_time.png", "cost_memory.png"):
        assert (workdir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dense_memory_is_quadratic_and_window_memory_linear():
    # The memory axis of the experiment read from the compiled program: doubling T from 128 to
    # 256 multiplies the einsum path's temp buffers by ~4 ([T, T] scores and probabilities), the
    # banded window's by ~2. Catches a memory measurement of the wrong thing (inputs, outputs).
    config = with_overrides(cost.get_config("smoke"), window=8, num_heads=2, head_dim=8)
    dense = [attention_cost.measure("einsum", t, config)["temp_bytes"] for t in (128, 256)]
    local = [attention_cost.measure("local", t, config)["temp_bytes"] for t in (128, 256)]
    assert 3.5 < dense[1] / dense[0] < 4.5, dense
    assert 1.7 < local[1] / local[0] < 2.3, local


def test_fitted_slope():
    lengths = [256, 512, 1024, 2048]
    # Exact powers: slope 2 and 1; only the last fit_points points count.
    assert attention_cost.fitted_slope(lengths, [t**2 for t in lengths], 3) == pytest.approx(2.0)
    assert attention_cost.fitted_slope(lengths, [5, 1, 2, 4], 3) == pytest.approx(1.0)
    np.testing.assert_allclose(attention_cost.fitted_slope(lengths, [3.0] * 4, 2), 0.0, atol=1e-9)


def test_bad_config(tmp_path):
    with pytest.raises(ValueError, match="Unknown implementations"):
        attention_cost.main(
            with_overrides(cost.get_config("smoke"), implementations="einsum,flash"), tmp_path
        )
    with pytest.raises(ValueError, match="fit_points=3 must be between 2"):
        attention_cost.main(with_overrides(cost.get_config("smoke"), fit_points=3), tmp_path)
    with pytest.raises(ValueError, match="config.clock must be 'wall' or 'cpu'"):
        attention_cost.measure("einsum", 16, with_overrides(cost.get_config("smoke"), clock="gpu"))
    with pytest.raises(ValueError, match="Unknown config argument"):
        cost.get_config("big")
