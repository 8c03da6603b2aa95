"""The depth experiment (post-LN against pre-LN) end to end in smoke mode: every grid cell in the
table, and invariants that a mislabeled run, a run not started from the shared initialization or
swapped optimizer settings would break."""

import json
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from experiments import attention_depth
from experiments.configs.attention import depth as depth_config
from research.train.optimizer import make_optimizer
from tests.config_overrides import with_overrides

SMOKE = depth_config.get_config("smoke")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("attention_depth")
    return workdir, attention_depth.main(SMOKE, workdir)


def _rows(results) -> dict:
    return {(r["placement"], r["depth"], r["setting"]): r for r in results["rows"]}


def test_every_grid_cell_is_in_the_table_and_the_plots_are_written(smoke):
    workdir, results = smoke
    cells = {(p, d, s) for p in ("pre", "post") for d in (1, 2) for s in attention_depth.SETTINGS}
    assert set(_rows(results)) == cells and len(results["rows"]) == len(cells)
    table = (workdir / "results.md").read_text().splitlines()
    assert sum(line.startswith("| ") for line in table) == 1 + len(cells)  # header + one a cell
    for p, d, s in cells:
        clip = "yes" if s == "warmup+clip" else "no"
        assert sum(line.startswith(f"| {p} | {d} | {clip} |") for line in table) == 1
    saved = json.loads((workdir / "results.json").read_text())
    assert [(r["placement"], r["depth"], r["setting"]) for r in saved["rows"]] == [
        (r["placement"], r["depth"], r["setting"]) for r in results["rows"]
    ]
    for png in ("grad_norms.png", "losses.png"):
        assert (workdir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_numbers_are_finite_and_start_at_the_uniform_loss(smoke):
    # Measured in smoke mode at depths 2 and 4: step-1 losses 5.515-5.522, final 4.66-5.05. GPT-2's
    # small init gives near-uniform logits, so step 1 sits near ln(257) = 5.549; a loss on the
    # wrong targets or padded vocabulary rows would not.
    for row in smoke[1]["rows"]:
        assert not row["diverged"] and row["first_nonfinite_step"] is None
        assert abs(row["loss_first"] - math.log(257)) < 0.1
        assert row["loss_final"] < row["loss_first"]
        for key in ("grad_norms_init", "grad_norms_trained"):
            norms = np.asarray(row[key])
            assert norms.shape == (row["depth"],) and np.all(np.isfinite(norms) & (norms > 0))
        assert np.isfinite(row["grad_norm_max"]) and row["grad_norm_max"] > 0


def test_unigram_loss_is_the_entropy_of_the_token_frequencies(smoke):
    assert attention_depth.unigram_loss(np.array([3, 3, 7, 7])) == pytest.approx(math.log(2))
    p = np.array([0.5, 0.25, 0.25])
    tokens = np.array([0, 0, 1, 2])
    assert attention_depth.unigram_loss(tokens) == pytest.approx(-np.sum(p * np.log(p)))
    # Bytes of English text: about 3.25 nats (4.7 bits) a byte, measured on Python 3.11's topics.
    assert 2.5 < smoke[1]["unigram_loss"] < 4
    # 8 smoke steps do not get a model past byte frequencies.
    assert not any(row["beats_unigram"] for row in smoke[1]["rows"])


def test_both_optimizer_settings_start_from_the_same_initialization(smoke):
    # Step 1 is measured before any update, so the warmup+clip and the plain run of one model
    # must agree exactly there: catches a run that re-initializes or reads other batches.
    rows = _rows(smoke[1])
    for placement in ("pre", "post"):
        for d in (1, 2):
            a, b = rows[(placement, d, "warmup+clip")], rows[(placement, d, "neither")]
            assert a["loss_first"] == b["loss_first"]
            assert a["output_rms_init"] == b["output_rms_init"]
            np.testing.assert_array_equal(a["grad_norms_init"], b["grad_norms_init"])


def test_post_ln_output_is_normalized_and_pre_ln_residual_stream_is_not(smoke):
    # Post-LN ends every block with LayerNorm(x + branch), scale 1 and bias 0 at init: each token's
    # output has mean 0 and RMS sqrt(var / (var + 1e-5)), 1 to 1e-4, at every depth. Pre-LN's
    # last block output is the raw residual stream: embeddings of std 0.02 plus small branches
    # (measured RMS 0.030). A run labeled 'post' that ran pre-LN (or the reverse) fails here.
    rows = _rows(smoke[1])
    for (placement, _, _), row in rows.items():
        if placement == "post":
            assert row["output_rms_init"] == pytest.approx(1.0, abs=1e-4)
        else:
            assert 0.01 < row["output_rms_init"] < 0.1


def test_pre_and_post_ln_share_parameters_but_not_gradients(smoke):
    # Same seed: the placement of the LayerNorms changes no parameter name, shape or initial
    # value, so the comparison is between architectures only; their gradients differ
    # (measured at 2 layers: pre 1.06 / 1.05 in blocks 0 / 1, post 0.73 / 0.045).
    trees = [
        attention_depth.init_params(attention_depth.make_model(SMOKE, p, 2), SMOKE.seed)
        for p in ("pre", "post")
    ]
    assert jax.tree.structure(trees[0]) == jax.tree.structure(trees[1])
    for a, b in zip(jax.tree.leaves(trees[0]), jax.tree.leaves(trees[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    rows = _rows(smoke[1])
    for d in (1, 2):
        pre = np.asarray(rows[("pre", d, "neither")]["grad_norms_init"])
        post = np.asarray(rows[("post", d, "neither")]["grad_norms_init"])
        assert np.all(np.abs(np.log(pre / post)) > 0.2)


@pytest.mark.parametrize("setting", [0, 1])
def test_vmapped_adamw_equals_the_projects_optimizer(setting):
    # The experiment's optimizer takes warmup and clip as arrays (one compile for both settings);
    # it must update exactly as research/train/optimizer.py's make_optimizer does with the same
    # section at a constant rate: catches a warmup off by one step, a clip that never (or always)
    # fires, or a weight decay on the biases. Gradients of norm ~12 make the clip at 1 fire.
    warmup, clip = attention_depth.setting_hyperparameters(SMOKE)
    section = ml_collections.ConfigDict(SMOKE.optimizer.to_dict())
    section.update(
        warmup_steps=int(warmup[setting]), grad_clip_norm=float(clip[setting]), decay="constant"
    )
    section.end_learning_rate_ratio = 1.0
    reference = make_optimizer(section, SMOKE.num_train_steps)
    ours = attention_depth.adamw(SMOKE.optimizer, jnp.asarray(warmup[setting]), clip[setting])
    keys = jax.random.split(jax.random.key(0), 8)
    params = {"kernel": jax.random.normal(keys[0], (3, 4)), "bias": jnp.ones(4)}
    p_ref, p_ours = params, params
    s_ref, s_ours = reference.init(params), ours.init(params)
    for key in keys[1:]:
        grads = {
            name: 3.0 * jax.random.normal(jax.random.fold_in(key, i), p.shape)
            for i, (name, p) in enumerate(params.items())
        }
        u_ref, s_ref = reference.update(grads, s_ref, p_ref)
        u_ours, s_ours = ours.update(grads, s_ours, p_ours)
        p_ref, p_ours = optax.apply_updates(p_ref, u_ref), optax.apply_updates(p_ours, u_ours)
    for a, b in zip(jax.tree.leaves(p_ref), jax.tree.leaves(p_ours), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(p_ref["kernel"], params["kernel"])  # it did train


def test_warmup_slows_the_first_steps(smoke):
    # In 8 smoke steps, 4 of them warming up from a learning rate of 0, the warmup+clip run moves
    # less than the full-rate run (final losses 4.94-5.05 against 4.66-4.69 at depths 2, 4): catches
    # the two optimizer settings swapped or ignored.
    warmup, clip = attention_depth.setting_hyperparameters(SMOKE)
    assert warmup.tolist() == [SMOKE.optimizer.warmup_steps, 0]
    assert clip.tolist() == [SMOKE.optimizer.grad_clip_norm, 0]
    rows = _rows(smoke[1])
    for placement in ("pre", "post"):
        for d in (1, 2):
            warm = rows[(placement, d, "warmup+clip")]["loss_final"]
            assert rows[(placement, d, "neither")]["loss_final"] < warm - 0.1


def test_bad_depths_are_refused(tmp_path):
    config = with_overrides(depth_config.get_config("smoke"), depths="2,x")
    with pytest.raises(ValueError, match=r"--config.depths='2,x' must be a comma-separated list"):
        attention_depth.main(config, tmp_path)
    config = with_overrides(depth_config.get_config("smoke"), depths="0,2")
    with pytest.raises(ValueError, match="must hold positive layer counts"):
        attention_depth.main(config, tmp_path)
