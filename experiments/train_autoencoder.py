"""Train an autoencoder or VAE on images, then score it on the test split against PCA.

  python -m experiments.train_autoencoder --config=experiments/configs/autoencoder/classic.py \
      --workdir=runs/ae_classic

The model (`--config.model_name`: autoencoder or vae, or a fork; `--config.model.*`: its Config,
e.g. a top-k or sigmoid code) and the objective section (`research/train/autoencoder_objectives.py`)
say what is trained. `--config.objective.name=reconstruction`: a classic, denoising
(`objective.corruption`, `objective.corruption_rate`: noise drawn from the step's rng inside the
loss, the clean image as target) or sparse (`objective.l1_weight`, `objective.kl_weight` toward
`objective.sparsity_target`) autoencoder; `elbo`: a VAE (`objective.beta`, `objective.decoder_std`;
negative ELBO with its reconstruction and KL terms logged apart). Data: the embedded digits (8x8) by
default, or MNIST (28x28) with `--config.data.name=mnist` when `--config.data.data_dir` holds a
prepared array_record copy.

After training, on the whole test split: reconstruction MSE per pixel and PSNR, scikit-learn PCA's
MSE at the same latent size fitted on the same training images ("the autoencoder is a non-linear
PCA"), the denoising gain (PSNR of the reconstruction minus that of the noisy input), the code's
sparsity, and for a VAE the negative ELBO in nats per image with its two terms. They go to
results.json and results.md in the workdir, with reconstructions.png, latent_map.png and, for a
VAE, samples.png and interpolation.png; checkpoints and metrics sit in the workdir itself (the one
stage `stages.IN_WORKDIR`), and a preempted run writes none of these.
"""

import functools
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import tensorflow_datasets as tfds
from jax.experimental import multihost_utils
from sklearn.decomposition import PCA

from experiments import entry, stages
from experiments.figures import plt, save
from experiments.results import write_results
from research import models
from research.data import digits
from research.tasks.arrays import array_task
from research.train.autoencoder_objectives import OBJECTIVES
from research.train.reconstruction import psnr
from research.train.task import Task

EVAL_SAMPLES = 16  # posterior samples per test image for the VAE's negative ELBO


# ---------------------------------------------------------------------------------------------
# Data


def _mnist(split: str, data_dir) -> dict[str, np.ndarray]:
    builder = tfds.builder("mnist", data_dir=data_dir, file_format="array_record")
    if not builder.is_prepared():
        raise ValueError(
            f"No prepared array_record copy of MNIST in data_dir={data_dir!r} (looked in "
            f"{builder.data_dir}); prepare it there with `tfds build mnist "
            "--file_format=array_record --data_dir=<dir>` and pass --config.data.data_dir=<dir>."
        )
    source = builder.as_data_source(split)
    examples = source.__getitems__(range(len(source)))
    images = np.stack([ex["image"] for ex in examples]).astype(np.float32) / 255.0
    return {"image": images, "label": np.array([ex["label"] for ex in examples], np.int32)}


def load_images(data, split: str) -> dict[str, np.ndarray]:
    """{'image': float32 [N, H, W, C] in [0, 1], 'label': int32 [N]} of `split`."""
    if data.name == "digits":
        arrays = digits.load_arrays(split, data.data_dir)
        arrays = {"image": arrays["image"].reshape(-1, 8, 8, 1), "label": arrays["label"]}
    elif data.name == "mnist":
        arrays = _mnist(split, data.data_dir)
    else:
        raise ValueError(f"Unknown data.name {data.name!r}; choose 'digits' or 'mnist'.")
    if data.binarize:  # makes the Bernoulli likelihood a true likelihood (nats per image)
        arrays["image"] = (arrays["image"] >= 0.5).astype(np.float32)
    return arrays


def objective(config):
    """The config's objective as `(model, params, images, rng, weights) -> (loss, metrics, outputs,
    inputs)`: `research.train.autoencoder_objectives.OBJECTIVES[config.objective.name]` with the
    section's other keys as its settings. The one place the kind of autoencoder is decided."""
    settings = config.objective.to_dict()
    name = settings.pop("name")
    if name not in OBJECTIVES:
        raise ValueError(
            f"Unknown --config.objective.name={name!r}; choose one of {sorted(OBJECTIVES)}."
        )
    return functools.partial(OBJECTIVES[name], **settings)


def build_task(config) -> Task:
    model = models.load(config.model_name).make(**config.model.to_dict())
    train = load_images(config.data, "train")
    test = load_images(config.data, config.data.eval_split)
    loss = objective(config)

    def loss_fn(params, model_state, batch, rng, train):
        weights = batch.get("weights", jnp.ones(batch["image"].shape[:1], jnp.float32))
        value, metrics, _, _ = loss(model, params, batch["image"], rng, weights)
        return value, metrics, model_state  # stateless: the model state passes through

    return array_task(
        model, loss_fn, train, test, batch_size=config.data.batch_size, seed=config.seed,
        init_inputs=(np.zeros((1, *train["image"].shape[1:]), np.float32),), items_name="images",
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Test-split evaluation, the PCA baseline and figures


def pca_baseline(train_images, test_images, test_noisy, num_components: int) -> dict:
    """scikit-learn PCA fitted on the training images: test MSE per pixel, and the PSNR of its
    projection of the noisy test images (PCA as a denoiser)."""
    flat = lambda x: np.asarray(x, np.float64).reshape(len(x), -1)
    pca = PCA(n_components=num_components, random_state=0).fit(flat(train_images))
    project = lambda x: pca.inverse_transform(pca.transform(flat(x)))
    mse = float(np.mean(np.square(project(test_images) - flat(test_images))))
    denoised_mse = np.mean(np.square(project(test_noisy) - flat(test_images)), axis=1)
    return {"pca_mse": mse, "pca_denoised_psnr": float(np.mean(-10 * np.log10(denoised_mse)))}


def evaluate_test(config, model, params, test, train) -> tuple[dict, dict]:
    """Test-split numbers (results.json's 'test') and arrays for the figures."""
    images = jnp.asarray(test["image"])
    weights = jnp.ones(len(images), jnp.float32)
    mean = lambda pair: float(pair[0]) / float(pair[1])
    rng = jax.random.key(config.seed)
    loss, settings = objective(config), config.objective
    vae = settings.name == "elbo"

    @jax.jit
    def run(params, rng):
        return loss(model, params, images, rng, weights)

    _, metrics, outputs, inputs = run(params, rng)
    clean = model.apply({"params": params}, images)  # clean input; a VAE decodes z = mean
    results = {
        "num_images": len(images),
        "latent_dim": model.config.latent_dim,
        "mse": float(np.mean(np.square(np.asarray(clean["image"]) - np.asarray(images)))),
        "psnr": float(np.mean(psnr(clean["image"], images))),
    }
    results |= pca_baseline(
        train["image"], test["image"], np.asarray(inputs), results["latent_dim"]
    )
    results["beats_pca"] = results["mse"] < results["pca_mse"]
    figures = {"images": np.asarray(images), "inputs": np.asarray(inputs), "labels": test["label"]}
    figures["vae"] = vae
    figures["reconstructions"] = np.asarray(outputs["image"])
    if vae:
        # EVAL_SAMPLES posterior samples per image: a lower-variance estimate of the bound.
        sums = {"nelbo": 0.0, "reconstruction": 0.0, "kl": 0.0}
        for key in jax.random.split(rng, EVAL_SAMPLES):
            _, m, _, _ = run(params, key)
            sums = {k: v + mean(m[k]) / EVAL_SAMPLES for k, v in sums.items()}
        results |= {f"{k}_nats_per_image": v for k, v in sums.items()}
        results["beta"] = settings.beta
        del results["pca_denoised_psnr"]  # a VAE sees clean input: nothing new
        figures["codes"] = np.asarray(clean["mean"])
    else:
        results["mean_activation"] = mean(metrics["mean_activation"])
        results["inactive_fraction"] = mean(metrics["inactive"])
        top_k = model.config.top_k
        if settings.kl_weight:
            results["sparsity_target"] = settings.sparsity_target
        if top_k:  # k numbers (and which k) per image: PCA with k components is the peer
            results["top_k"] = top_k
            results["pca_mse_at_k"] = pca_baseline(
                train["image"], test["image"], test["image"], top_k
            )["pca_mse"]
        if settings.corruption != "none":
            results |= {
                "corruption": settings.corruption,
                "corruption_rate": settings.corruption_rate,
                "noisy_psnr": mean(metrics["noisy_psnr"]),
                "denoised_psnr": mean(metrics["psnr"]),
                "denoised_mse": mean(metrics["mse"]),
            }
            results["denoising_gain_db"] = results["denoised_psnr"] - results["noisy_psnr"]
            results["pca_denoising_gain_db"] = results["pca_denoised_psnr"] - results["noisy_psnr"]
        else:
            del results["pca_denoised_psnr"]  # the same images as pca_mse: nothing new
        figures["codes"] = np.asarray(clean["code"])
    figures["clean_reconstructions"] = np.asarray(clean["image"])
    return results, figures


def _show(ax, image) -> None:
    ax.imshow(np.clip(image[..., 0], 0, 1), cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_grid(path, rows: dict[str, np.ndarray], title: str) -> None:
    """Rows of images [n, H, W, C], each row labelled by its key."""
    n = max(len(r) for r in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(0.9 * n, 1.0 * len(rows) + 0.4), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(n):
            axes[r, c].axis("off") if c >= len(images) else _show(axes[r, c], images[c])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    save(fig, path)


def plot_latent_map(path, codes, labels, title: str) -> None:
    """The first two code dimensions of every test image, colored by its label."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=10, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="label")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title)
    fig.tight_layout()
    save(fig, path)


def figure_names(vae: bool) -> list[str]:
    names = ["reconstructions.png", "latent_map.png"]
    return names + ["samples.png", "interpolation.png"] if vae else names


def write_figures(workdir, config_model_name: str, model, params, figures, seed: int) -> None:
    """Draws `figure_names(figures['vae'])` into the workdir."""
    workdir = pathlib.Path(workdir)
    shown = slice(0, 10)
    rows = {"original": figures["images"][shown]}
    if not np.array_equal(figures["inputs"], figures["images"]):
        rows["noisy input"] = figures["inputs"][shown]
        rows["denoised"] = figures["reconstructions"][shown]
    else:
        rows["reconstruction"] = figures["clean_reconstructions"][shown]
    plot_grid(workdir / "reconstructions.png", rows, "test images and reconstructions")
    kind = "posterior means" if figures["vae"] else "codes"
    plot_latent_map(
        workdir / "latent_map.png", figures["codes"], figures["labels"],
        f"test {kind}, first two dimensions",
    )  # fmt: skip
    if figures["vae"]:  # samples from the prior and an interpolation
        family = models.load(config_model_name)
        samples = np.asarray(family.sample_prior(model, params, jax.random.key(seed), 40))
        plot_grid(
            workdir / "samples.png",
            {" " * i: samples[10 * i : 10 * i + 10] for i in range(4)},  # rows need no names
            "decoded samples z ~ N(0, I)",
        )
        pairs = [(0, 1), (2, 3), (4, 5)]
        rows = {
            f"{figures['labels'][a]} -> {figures['labels'][b]}": np.asarray(
                family.interpolate(model, params, figures["images"][a], figures["images"][b], 10)
            )
            for a, b in pairs
        }
        plot_grid(workdir / "interpolation.png", rows, "decoded line between posterior means")


def results_markdown(results: dict) -> str:
    """results.md: the test metrics and where the figures are."""
    test = results["test"]
    lines = [
        f"# {results['model_name']} on {results['data']} (step {results['step']})",
        "",
        "| metric | value |",
        "|---|---|",
        *(
            f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
            for k, v in test.items()
        ),
        "",
        f"Wall time {results['wall_seconds']:.1f} s. Figures: {', '.join(results['figures'])}.",
    ]
    return "\n".join(lines) + "\n"


def main(config, workdir) -> stages.StageResult:
    start = time.perf_counter()
    task = build_task(config)
    result = stages.run(stages.IN_WORKDIR, config, workdir, task)
    params = multihost_utils.process_allgather(result.params, tiled=True)
    train = load_images(config.data, "train")
    test = load_images(config.data, config.data.eval_split)
    test_results, figures = evaluate_test(config, task.model, params, test, train)
    results = {
        "model_name": config.model_name,
        "data": config.data.name,
        "step": result.step,
        "test": test_results,
        "figures": figure_names(figures["vae"]),
        "wall_seconds": time.perf_counter() - start,
    }
    if write_results(workdir, results, results_markdown(results)):
        write_figures(workdir, config.model_name, task.model, params, figures, config.seed)
    return result


if __name__ == "__main__":
    entry.run(main)
