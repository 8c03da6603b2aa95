"""The seq2seq experiment end to end: the smoke run trains, evaluates greedy exact match on held-out
strings and writes the attention plot; the exact-match metric itself on hand-made targets."""

import jax
import numpy as np
import pytest

from experiments import train_seq2seq
from experiments.configs.seq2seq import reverse
from research.data import digit_strings
from research.generate import decoding
from research.generate.sampling import TokenChooser
from research.models import seq2seq
from research.train.losses import classification_loss
from research.train.metrics import read_metrics


def _greedy(model, params, source, lengths, num_tokens):
    """Greedy tokens through the decoding protocol, PAD (0) after EOS (2), like the targets."""
    mask = np.arange(source.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return decoding.decode(
        model, params, jax.numpy.asarray(source), num_tokens=num_tokens, select=TokenChooser(0.0),
        rng=jax.random.key(0), eos_id=2, fill_id=0, prompt_mask=mask,
    )  # fmt: skip


def test_smoke_run_trains_evaluates_held_out_strings_and_plots_attention(tmp_path):
    config = reverse.get_config("smoke")
    result = train_seq2seq.main(config, tmp_path)
    assert jax.device_count() == 8
    assert result.step == 30 and not result.preempted
    records = read_metrics(tmp_path / "metrics.jsonl")
    evals = [r for r in records if "eval/loss" in r]
    assert [r["step"] for r in evals] == [15, 30]
    assert all({"eval/exact_match", "eval/accuracy"} <= set(r) for r in evals)
    train = [r for r in records if "train/loss" in r]
    assert [r["step"] for r in train] == [10, 20, 30]
    assert train[-1]["train/loss"] < train[0]["train/loss"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["15", "30"]

    # The final evaluation equals greedy decoding and teacher forcing over the 60 held-out
    # strings computed here directly: the 4 padding rows of the last eval batch count for nothing.
    _, held_out = train_seq2seq.load_data(config)
    assert len(held_out["source"]) == 60
    model = seq2seq.make(**config.model.to_dict())
    params = jax.device_get(result.state.params)
    tokens = _greedy(model, params, held_out["source"], held_out["source_lengths"], 6)
    exact = np.mean(np.all(np.asarray(tokens) == held_out["target"], axis=1))
    assert evals[-1]["eval/exact_match"] == pytest.approx(exact, abs=1e-7)
    inputs = seq2seq.teacher_forcing_inputs(held_out["target"], 1)
    logits = model.apply({"params": params}, held_out["source"], held_out["source_lengths"], inputs)
    weights = held_out["target"] != digit_strings.PAD
    loss, _ = classification_loss(logits, held_out["target"], weights)
    assert evals[-1]["eval/loss"] == pytest.approx(float(loss), rel=1e-5)  # observed ~1e-7

    png = (tmp_path / "attention.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_exact_match_counts_whole_strings_and_ignores_padding_rows():
    """Catches an exact-match metric that scores tokens instead of strings, stops comparing at
    the wrong place, or counts the zero-weight padding rows of an eval batch."""
    config = reverse.get_config("smoke")
    task = train_seq2seq.build_task(config)
    _, held_out = train_seq2seq.load_data(config)
    variables = jax.jit(task.model.init)(jax.random.key(0), *task.init_inputs)
    params = variables["params"]
    batch = {k: v[:8] for k, v in held_out.items()}
    tokens = _greedy(task.model, params, batch["source"], batch["source_lengths"], 6)
    # Targets the model gets right by construction (its own greedy output), then three wrong.
    batch["target"] = np.asarray(tokens)
    wrong = batch["target"].copy()
    wrong[1, -1] = (wrong[1, -1] + 1) % 13  # the last token: a prefix match is no match
    wrong[2, 0] = (wrong[2, 0] + 1) % 13
    wrong[7, 0] = (wrong[7, 0] + 1) % 13  # a padding row: counts for nothing either way
    batch_weights = np.array([1, 1, 1, 1, 1, 1, 0, 0], np.float32)
    loss_fn = jax.jit(task.loss_fn, static_argnums=4)
    rng = jax.random.key(0)

    metrics = loss_fn(params, {}, {**batch, "weights": batch_weights}, rng, False)[1]
    assert [float(x) for x in metrics["exact_match"]] == [6.0, 6.0]
    metrics = loss_fn(params, {}, {**batch, "target": wrong, "weights": batch_weights}, rng, False)[
        1
    ]
    assert [float(x) for x in metrics["exact_match"]] == [4.0, 6.0]
    assert "exact_match" not in loss_fn(params, {}, batch, rng, True)[1]  # not while training
