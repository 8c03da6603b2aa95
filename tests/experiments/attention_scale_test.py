"""The attention-scale experiment: the closed forms of scaled and unscaled scores, the smoke run,
and a preempted run stopping the experiment."""

import json
import math
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import attention_scale
from experiments.configs.attention import scale as scale_config
from experiments.stages import StagePreempted
from research.nn.attention import dot_product_attention
from tests.experiments.preemption import preempt_stage


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("attention_scale")
    return attention_scale.main(scale_config.get_config("smoke"), workdir), workdir


def _stats(results, head_dim, scaled):
    (row,) = [
        r for r in results["statistics"] if r["head_dim"] == head_dim and r["scaled"] == scaled
    ]
    return row


def test_score_spread_is_one_with_the_scale_and_sqrt_dk_without(results):
    # q.k sums d_k products of unit variance: variance d_k. A scale applied twice, or sqrt(d_k)
    # where 1/sqrt(d_k) belongs, moves these ratios far from 1 (observed within 0.016).
    results, _ = results
    for head_dim in scale_config.get_config("smoke").head_dims:
        assert 0.9 < _stats(results, head_dim, True)["score_std"] < 1.1
        assert 0.9 < _stats(results, head_dim, False)["score_std"] / math.sqrt(head_dim) < 1.1


def test_scaled_entropy_matches_the_lognormal_closed_form(results):
    # Unit-variance scores over T keys: entropy ~ log T - 1/2 at every width (observed within
    # 0.035 at T = 64); without the scale it falls far below (1.3 nats at d_k = 16, 0.25 at 256).
    results, _ = results
    closed_form = attention_scale.lognormal_entropy(results["length"], 1.0)
    for head_dim in (16, 256):
        assert _stats(results, head_dim, True)["entropy"] == pytest.approx(closed_form, abs=0.1)
        assert _stats(results, head_dim, False)["entropy"] < closed_form - 2.0
    assert _stats(results, 256, False)["entropy"] < _stats(results, 16, False)["entropy"]


def test_unscaled_wide_heads_saturate_and_lose_their_score_gradient(results):
    results, _ = results
    assert _stats(results, 16, True)["saturated"] == 0.0
    assert _stats(results, 256, True)["saturated"] == 0.0
    assert _stats(results, 256, False)["saturated"] > 0.3  # observed 0.50
    # The gradient through the softmax, p (g - p.g), vanishes on one-hot rows (observed 0.095
    # unscaled against 0.178 scaled at d_k = 256).
    scaled, unscaled = _stats(results, 256, True), _stats(results, 256, False)
    assert unscaled["grad_scores"] < 0.7 * scaled["grad_scores"]


def test_experiment_probabilities_are_the_attention_layers():
    # The experiment's softmax(q.k / sqrt(d_k)) is what research.nn.attention computes by default.
    kq, kk, kv = jax.random.split(jax.random.key(1), 3)
    q = jax.random.normal(kq, (2, 5, 3, 8))
    k = jax.random.normal(kk, (2, 7, 3, 8))
    v = jax.random.normal(kv, (2, 7, 3, 8))
    probs, _ = attention_scale.attention_probabilities(q, k, 1 / math.sqrt(8))
    ours = jnp.einsum("bnts,bsnh->btnh", probs, v)
    np.testing.assert_allclose(ours, dot_product_attention(q, k, v, causal=False), atol=1e-5)


def test_training_runs_with_and_without_the_scale(results):
    results, workdir = results
    runs = {r["run"]: r for r in results["runs"]}
    assert set(runs) == {"scaled", "unscaled"}
    # The smoke GPT: width 64, one head of 64.
    assert runs["scaled"]["attention_scale"] == pytest.approx(1 / 8)
    assert runs["unscaled"]["attention_scale"] == 1.0
    for r in runs.values():
        assert r["head_dim"] == 64 and r["steps"] == 4
        assert 0 < r["final_train_loss"] < 10 and 0 < r["eval_nats_per_byte"] < 10
        assert len(r["train_losses"]) == len(r["train_steps"]) == 2
    assert json.loads((workdir / "results.json").read_text()) == results
    assert (workdir / "attention_scale.png").stat().st_size > 0
    assert "| 256 | none |" in (workdir / "results.md").read_text()


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="head_dim=0 and length=128"):
        attention_scale.score_statistics(
            0, scaled=True, batch_size=1, num_heads=1, length=128, seed=0
        )


@pytest.mark.parametrize("stage", [1, 2])
def test_a_preempted_run_stops_the_experiment(results, tmp_path, monkeypatch, stage):
    # The finished smoke workdir with run `stage` and every later one removed: the earlier runs are
    # restored (one loop.train call each), run `stage` stops after one step, nothing follows it.
    names = list(attention_scale.RUNS)
    workdir = tmp_path / "run"
    shutil.copytree(results[1], workdir)
    (workdir / "results.json").unlink()
    for name in names[stage - 1 :]:
        shutil.rmtree(workdir / name)
    preempt_stage(monkeypatch, stage)
    with pytest.raises(StagePreempted, match=f"'{names[stage - 1]}' at step 1"):
        attention_scale.main(scale_config.get_config("smoke"), workdir)
    assert (workdir / names[stage - 1] / "checkpoints" / "1").exists()
    assert not any((workdir / name).exists() for name in names[stage:])
    assert not (workdir / "results.json").exists()
