"""Tests for research/models/seq2seq.py: decoder causality, padding invariance, greedy decoding
through the decoding protocol == feeding the teacher-forced forward its own argmax, presets and errors
(the golden logical axes: tests/research/models/contract_test.py).
"""

import flax.linen as nn
import jax
import numpy as np
import pytest

from research import models
from research.generate import decoding
from research.generate.sampling import TokenChooser
from research.models import seq2seq
from research.models.seq2seq import Config, make, teacher_forcing_inputs

B, S, T = 4, 6, 7


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    lengths = np.array([6, 3, 1, 5], np.int32)
    source = rng.integers(3, 13, size=(B, S)).astype(np.int32)
    source[np.arange(S)[None, :] >= lengths[:, None]] = 0
    target = rng.integers(3, 13, size=(B, T)).astype(np.int32)
    return source, lengths, target


def _params(model, seed=0):
    """Random parameters of scale 0.5 (embeddings at init are 0.02), so that an untrained
    model's outputs depend clearly on its inputs."""
    source, lengths, target = _batch()
    params = nn.unbox(jax.jit(model.init)(jax.random.key(seed), source, lengths, target)["params"])
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda p: 0.5 * rng.normal(size=p.shape).astype(np.float32), params)


KINDS = [
    dict(attention="additive"),
    dict(attention="dot"),
    dict(attention="general", cell="lstm", bidirectional=False, num_encoder_layers=2),
]


@pytest.mark.parametrize("overrides", KINDS, ids=lambda o: o["attention"])
def test_logits_at_step_t_do_not_depend_on_targets_from_t_on(overrides):
    """Catches a decoder that peeks at the token it must predict (or later ones)."""
    model = make("tiny", **overrides)
    params = _params(model)
    source, lengths, target = _batch()
    forward = jax.jit(lambda y: model.apply({"params": params}, source, lengths, y))
    logits = forward(teacher_forcing_inputs(target, 1))
    for t in range(T):
        changed = target.copy()
        changed[:, t:] = 3 + (changed[:, t:] - 3 + 5) % 10  # every token from t on differs
        other = forward(teacher_forcing_inputs(changed, 1))
        np.testing.assert_array_equal(np.asarray(other)[:, : t + 1], np.asarray(logits)[:, : t + 1])
        if t + 1 < T:  # and the step after does see the change
            assert not np.allclose(other[:, t + 1], logits[:, t + 1])


@pytest.mark.parametrize("overrides", KINDS, ids=lambda o: o["attention"])
def test_source_padding_does_not_change_the_logits(overrides):
    """Catches an encoder or attention that reads the PAD positions past each source length."""
    model = make("tiny", **overrides)
    params = _params(model)
    source, lengths, target = _batch()
    inputs = teacher_forcing_inputs(target, 1)
    forward = jax.jit(lambda x, n, y: model.apply({"params": params}, x, n, y))
    logits = forward(source, lengths, inputs)
    noisy = np.where(np.arange(S)[None, :] >= lengths[:, None], 7, source)
    other = forward(noisy, lengths, inputs)
    np.testing.assert_allclose(other, logits, rtol=1e-6, atol=1e-6)
    short = forward(source[2:3, :1], lengths[2:3], inputs[2:3])
    np.testing.assert_allclose(short[0], logits[2], rtol=1e-5, atol=1e-5)  # observed ~1e-7


@pytest.mark.parametrize("overrides", KINDS, ids=lambda o: o["attention"])
def test_protocol_greedy_decode_equals_the_teacher_forced_forward_fed_its_own_argmax(overrides):
    """Greedy decoding through `research.generate.decoding` (the cache: encoder output and RNN
    carry) equals the textbook loop of full forwards; its logits equal the full forward's.
    Catches a cache that drops the carry or the source mask, or a wrong first step."""
    model = make("tiny", eos_id=2, **overrides)
    params = _params(model, seed=3)
    source, lengths, _ = _batch(seed=1)
    mask = np.arange(S)[None, :] < lengths[:, None]  # right padding
    tokens, logits = decoding.decode(
        model, params, source, num_tokens=T, select=TokenChooser(0.0), rng=jax.random.key(0),
        eos_id=2, fill_id=0, prompt_mask=mask, return_logits=True,
    )  # fmt: skip
    tokens = np.asarray(tokens)

    # The textbook loop: the whole teacher-forced forward, argmax at step t becomes input t + 1
    # (inputs past t are placeholders; causality, tested above, makes them irrelevant).
    forward = jax.jit(lambda y: model.apply({"params": params}, source, lengths, y))
    fed = np.zeros((B, T + 1), np.int32)
    fed[:, 0] = model.config.bos_id
    for t in range(T):
        fed[:, t + 1] = np.argmax(forward(fed[:, :T])[:, t], axis=-1)
    want = fed[:, 1:].copy()
    for b in range(B):  # decode fills with fill_id (PAD) after the first EOS
        eos = np.flatnonzero(want[b] == 2)
        if eos.size:
            want[b, eos[0] + 1 :] = 0
    np.testing.assert_array_equal(tokens, want)
    assert len(set(map(tuple, want.tolist()))) > 1  # the rows differ: the source matters
    live = np.cumsum(want == 2, axis=1) - (want == 2) == 0  # steps up to and including EOS
    full = np.asarray(forward(fed[:, :T]))
    np.testing.assert_allclose(np.asarray(logits)[live], full[live], rtol=1e-5, atol=1e-5)

    weights = model.apply(
        {"params": params}, source, lengths, fed[:, :T], method=seq2seq.Model.attention_weights
    )
    padded = np.broadcast_to(np.arange(S)[None, None, :] >= lengths[:, None, None], weights.shape)
    assert np.all(np.asarray(weights)[padded] == 0)
    np.testing.assert_allclose(np.asarray(weights).sum(-1), 1.0, rtol=1e-5)


def test_make_presets_and_overrides():
    assert make().config == Config()
    assert make("tiny").config == Config(**seq2seq.VARIANTS["tiny"])
    assert make("digits", attention="dot").config.attention == "dot"
    assert models.load("seq2seq") is seq2seq


@pytest.mark.parametrize("variant", sorted(seq2seq.VARIANTS))
def test_every_preset_builds_and_decodes(variant):
    model = make(variant)
    source, lengths, target = _batch()
    params = jax.eval_shape(lambda: _params(model))
    logits = jax.eval_shape(lambda p: model.apply({"params": p}, source, lengths, target), params)
    assert logits.shape == (B, T, model.config.vocab_size)


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="Unknown seq2seq variant 'huge'"):
        make("huge")
    with pytest.raises(ValueError, match=r"Unknown seq2seq Config field\(s\) \['heads'\]"):
        make(heads=2)
    with pytest.raises(ValueError, match="Unknown attention 'concat'; choose one of additive"):
        make(attention="concat")
    with pytest.raises(ValueError, match="Unknown cell 'rnn'"):
        make(cell="rnn")
    with pytest.raises(ValueError, match="eos_id=13 is not a token id"):
        make(eos_id=13)
    model = make("tiny")
    source, lengths, target = _batch()
    params = _params(model)
    with pytest.raises(ValueError, match=r"source must be int\[B,S\]"):
        model.apply({"params": params}, source, lengths[:2], target)
    with pytest.raises(ValueError, match="needs source_lengths and decoder_inputs"):
        model.apply({"params": params}, source)
    with pytest.raises(ValueError, match="With a cache, seq2seq takes one token array"):
        model.apply({"params": params}, source, lengths, cache=model.init_cache(B, T))
