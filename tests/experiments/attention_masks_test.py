"""The attention-mask experiment: the GPT with its causal switch, and what each mask prevents."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import attention_masks
from experiments.configs.attention import masks as masks_config
from research.generate.sampling import sample
from research.models import transformer_lm

CFG = transformer_lm.Config(num_layers=2, embed_dim=32, num_heads=2, mlp_dim=64, max_len=24)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("attention_masks")
    return attention_masks.main(masks_config.get_config("smoke"), workdir), workdir


@pytest.fixture(scope="module")
def gpt():
    tokens = jax.random.randint(jax.random.key(1), (3, 12), 0, CFG.vocab_size)
    params = transformer_lm.Model(CFG).init(jax.random.key(0), tokens)["params"]
    return params, tokens


def test_with_one_block_the_last_position_is_the_same_with_and_without_the_causal_mask(gpt):
    # In a one-block model position T-1 attends to every position either way, so its logits agree
    # (with left padding too) and the earlier positions differ. (With more blocks the earlier
    # positions' outputs feed the next block, so no position agrees.)
    _, tokens = gpt
    one = dataclasses.replace(CFG, num_layers=1)
    params = transformer_lm.Model(one).init(jax.random.key(0), tokens)["params"]
    causal, full = transformer_lm.Model(one), transformer_lm.Model(one, causal=False)
    mask = jnp.arange(12)[None] >= jnp.array([[0], [3], [7]])  # left padding
    for kwargs in ({}, {"mask": mask}):
        a = causal.apply({"params": params}, tokens, **kwargs)
        b = full.apply({"params": params}, tokens, **kwargs)
        np.testing.assert_allclose(a[:, -1], b[:, -1], atol=1e-5)
        assert float(jnp.abs(a[:, :-1] - b[:, :-1]).max()) > 1e-3
    with pytest.raises(ValueError, match="non-causal transformer_lm.Model cannot decode"):
        full.apply({"params": params}, tokens, cache=full.init_cache(3, 12))


def test_only_the_non_causal_model_sees_the_next_token(gpt):
    params, tokens = gpt
    changed = tokens.at[:, 1].set((tokens[:, 1] + 1) % CFG.vocab_size)
    for causal, moves in ((True, False), (False, True)):
        model = transformer_lm.Model(CFG, causal=causal)
        before = model.apply({"params": params}, tokens)[:, 0]
        after = model.apply({"params": params}, changed)[:, 0]
        assert bool(jnp.any(jnp.abs(after - before) > 1e-4)) == moves


def test_prefix_logits_of_a_causal_model_are_its_forward_logits(gpt):
    # Hiding the future with the padding mask changes nothing for a causal model.
    params, tokens = gpt
    model = transformer_lm.Model(CFG, causal=True)
    np.testing.assert_allclose(
        attention_masks.prefix_logits(model, params, tokens),
        model.apply({"params": params}, tokens),
        atol=1e-5,
    )


def test_greedy_generate_matches_cached_greedy_decoding(gpt):
    params, _ = gpt
    prompt = np.array([5, 17, 200], np.int32)
    ours = attention_masks.greedy_generate(
        transformer_lm.Model(CFG, causal=True), params, prompt, 8
    )
    cached = sample(
        transformer_lm.Model(CFG), params, prompt, num_tokens=8, rng=jax.random.key(0),
        temperature=0.0,
    )  # fmt: skip
    np.testing.assert_array_equal(ours, cached)
    with pytest.raises(ValueError, match="prompt \\+ num_tokens = 25 exceeds max_len=24"):
        attention_masks.greedy_generate(transformer_lm.Model(CFG, causal=True), params, prompt, 22)


def test_pad_content_changes_real_outputs_only_without_the_mask(results):
    # Masked keys get probability exactly 0, so the change is exactly 0; without the mask the
    # real positions attend to the pads.
    padding = results[0]["padding"]
    assert padding["gpt_masked"] == 0.0 and padding["encoder_masked"] == 0.0
    assert padding["gpt_unmasked"] > 1e-3 and padding["encoder_unmasked"] > 1e-3


def test_without_the_causal_mask_training_cheats(results):
    results, workdir = results
    causal, cheat = results["causal"]["causal"], results["causal"]["non_causal"]
    # Reading the next token drives the training loss below the honest model's ...
    assert cheat["final_train_loss"] < causal["final_train_loss"] - 0.5
    assert cheat["eval_loss_as_trained"] < causal["eval_loss_as_trained"] - 0.5
    # ... and the loss with the future hidden (what generation sees) is worse than the honest one.
    assert cheat["eval_loss_prefix"] > causal["eval_loss_prefix"]
    for row in (causal, cheat):
        assert row["sample"].startswith("The ")
    assert (
        len(results["train_losses"]["causal"])
        == masks_config.get_config("smoke").lm.num_train_steps
    )
    assert json.loads((workdir / "results.json").read_text()) == results
    assert (workdir / "attention_masks.png").stat().st_size > 0
    assert "| non_causal |" in (workdir / "results.md").read_text()
