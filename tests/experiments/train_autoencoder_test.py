"""The autoencoder experiment end to end: smoke runs of the classic autoencoder and the VAE with
their results.json (PCA comparison, ELBO terms) and figures, exact resume after a crash with
corruption noise drawn in the loss, a denoiser fed clean input, and the MNIST error."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from experiments import train_autoencoder
from experiments.configs.autoencoder import classic, denoising, vae
from experiments.stages import StagePreempted
from research.models import autoencoder
from research.train import loop
from research.train.metrics import read_metrics
from tests.config_overrides import with_overrides
from tests.experiments.preemption import preempt_stage
from tests.research.train.toy_task import Crash, CrashAt


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def _config(module, data_dir, **overrides):
    config = module.get_config("smoke")
    config.data.data_dir = data_dir
    return with_overrides(config, **overrides)


def test_classic_smoke_run_writes_results_with_the_pca_comparison_once_not_preempted(
    tmp_path, data_dir, monkeypatch
):
    preempt_stage(monkeypatch, 1)
    with pytest.raises(StagePreempted, match="at step 1"):
        train_autoencoder.main(_config(classic, data_dir), tmp_path)
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("results.*"))
    monkeypatch.undo()
    result = train_autoencoder.main(_config(classic, data_dir), tmp_path)  # resumes in place
    assert jax.device_count() == 8 and result.step == 20
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["1", "10", "20"]
    results = json.loads((tmp_path / "results.json").read_text())
    test = results["test"]
    assert test["num_images"] == 180 and test["latent_dim"] == 16
    assert 0 < test["pca_mse"] < 0.05 and test["mse"] > 0  # PCA(16) on digits measured 0.0116
    assert test["beats_pca"] == (test["mse"] < test["pca_mse"])
    # The loop's last evaluation (3 batches of 64, the last padded) is the same test-set mean.
    evals = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "eval/mse" in r]
    assert [r["step"] for r in evals] == [10, 20]
    assert evals[-1]["eval/mse"] == pytest.approx(test["mse"], rel=1e-5)
    assert {"eval/inactive", "eval/mean_activation", "eval/psnr"} <= set(evals[-1])
    for name in ("reconstructions.png", "latent_map.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert "| pca_mse |" in (tmp_path / "results.md").read_text()


def test_vae_smoke_run_reports_the_elbo_and_its_two_terms(tmp_path, data_dir):
    train_autoencoder.main(_config(vae, data_dir), tmp_path)
    test = json.loads((tmp_path / "results.json").read_text())["test"]
    nelbo, rec, kl = (test[f"{k}_nats_per_image"] for k in ("nelbo", "reconstruction", "kl"))
    assert nelbo == pytest.approx(rec + kl, rel=1e-5) and kl > 0
    assert 0 < nelbo < 64 * np.log(2) * 1.5  # 64 binary pixels; 20 steps are near uniform
    last = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "eval/nelbo" in r][-1]
    assert last["eval/nelbo"] == pytest.approx(last["eval/reconstruction"] + last["eval/kl"])
    for name in ("samples.png", "interpolation.png", "latent_map.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_denoiser_resumes_after_a_crash_bit_for_bit(tmp_path, data_dir):
    """The corruption noise comes from the step's rng, so a resumed run draws the same noise."""
    config = _config(
        denoising, data_dir, num_train_steps=6, log_every_steps=1, checkpoint_every_steps=3,
        eval_every_steps=6, **{"mesh.data": 1},
    )  # fmt: skip
    one = jax.devices()[:1]
    full = loop.train(config, tmp_path / "full", train_autoencoder.build_task(config), devices=one)
    task = train_autoencoder.build_task(config)
    crashing = dataclasses.replace(
        task, train_iterator=lambda i, n: CrashAt(task.train_iterator(i, n), 5)
    )
    with pytest.raises(Crash):
        loop.train(config, tmp_path / "part", crashing, devices=one)
    resumed = loop.train(config, tmp_path / "part", task, devices=one)
    losses = lambda d: {
        r["step"]: r["train/loss"] for r in read_metrics(d / "metrics.jsonl") if "train/loss" in r
    }
    assert resumed.step == 6 and losses(tmp_path / "part") == losses(tmp_path / "full")
    assert resumed.metrics["eval/psnr"] == full.metrics["eval/psnr"]


def test_denoiser_fed_clean_input_is_the_plain_autoencoder():
    """Corruption at rate 0 leaves the objective exactly that of the classic autoencoder."""
    model = autoencoder.make("classic", hidden_dim=8, latent_dim=4)
    images = jax.random.uniform(jax.random.key(0), (4, 8, 8, 1))
    params = model.init(jax.random.key(1), images)["params"]
    weights = jnp.ones(4)

    def objective(config_file, **settings):
        loss = train_autoencoder.objective(_config(config_file, None, **settings))
        return loss(model, params, images, jax.random.key(2), weights)

    want, _, _, _ = objective(classic)
    for kind in ("gaussian", "masking", "salt_and_pepper"):
        settings = {"objective.corruption": kind, "objective.corruption_rate": 0.0}
        loss, metrics, _, inputs = objective(denoising, **settings)
        assert float(loss) == float(want)
        np.testing.assert_array_equal(inputs, images)
    loss, metrics, outputs, inputs = objective(denoising, **{"objective.corruption": "masking"})
    assert float(loss) != float(want)  # the comparison is not vacuous
    # The target is the clean image, not the noisy input the model saw.
    assert float(jnp.mean(inputs == 0)) > float(jnp.mean(images == 0)) + 0.2
    clean_sse = jnp.sum(jnp.square(outputs["output"] - images), axis=(1, 2, 3))
    assert float(loss) == pytest.approx(float(jnp.mean(clean_sse)), rel=1e-6)
    total, count = metrics["mse"]
    assert float(total / count) == pytest.approx(float(jnp.mean(clean_sse)) / 64, rel=1e-6)


def test_mnist_without_a_prepared_copy_is_one_sentence(tmp_path):
    data = ml_collections.ConfigDict(dict(name="mnist", data_dir=str(tmp_path), binarize=False))
    with pytest.raises(ValueError, match=r"No prepared array_record copy of MNIST in data_dir="):
        train_autoencoder.load_images(data, "train")
    data.name = "cifar"
    with pytest.raises(ValueError, match=r"Unknown data.name 'cifar'; choose 'digits' or 'mnist'"):
        train_autoencoder.load_images(data, "train")


def test_an_unknown_objective_name_is_one_sentence():
    with pytest.raises(ValueError, match=r"Unknown --config.objective.name='vae'; choose one of"):
        train_autoencoder.objective(_config(vae, None, **{"objective.name": "vae"}))
