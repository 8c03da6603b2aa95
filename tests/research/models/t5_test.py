"""Tests for research/models/t5.py: parameter counts (against the issue and Hugging Face), padding
and causality invariants, cached decoding == full forward, generation through
research.generate.decoding, the v1.0 head rescale by hand and errors.

Parity of the logits with Hugging Face's PyTorch T5 lives in tests/research/models/convert/
hf_t5_test.py (it needs the converter); the golden logical axes, make() and dtype in
tests/research/models/contract_test.py.
"""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from research.generate import decoding
from research.generate.sampling import TokenChooser
from research.models import t5
from tests.reference_packages import import_reference

SMALL_PARAMS = 60_506_624  # t5-small, the number in the issue
SMALL_V1_1_PARAMS = 76_961_152  # google/t5-v1_1-small
V = 40


def _small(**overrides):
    values = dict(vocab_size=V, embed_dim=16, num_heads=2, head_dim=8, mlp_dim=32)
    return t5.make("tiny", **{**values, **overrides})


def _init(model, source_length=6, target_length=4):
    inputs = jnp.ones((1, source_length), jnp.int32)
    decoder_inputs = jnp.ones((1, target_length), jnp.int32)
    return nn.unbox(jax.jit(model.init)(jax.random.key(0), inputs, decoder_inputs)["params"])


_MODELS = {}


def _model(feed_forward="relu", **overrides):
    """(model, params) of a small v1.0 ('relu', tied) or v1.1 ('gated-gelu', untied) T5, built
    once per module: compilation dominates these tests on a small CPU."""
    key = (feed_forward, tuple(sorted(overrides.items())))
    if key not in _MODELS:
        tied = feed_forward == "relu"
        model = _small(feed_forward=feed_forward, tie_embeddings=tied, **overrides)
        _MODELS[key] = model, _init(model)
    return _MODELS[key]


def _count(model):
    shapes = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.ones((1, 4), jnp.int32), jnp.ones((1, 2), int))
    )
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes["params"]))


INPUTS = jnp.array([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14]], jnp.int32)  # row 0 padded


@pytest.mark.parametrize("variant", sorted(t5.VARIANTS))
def test_num_params_matches_the_initialized_tree(variant):
    model = t5.make(variant)
    assert _count(model) == t5.num_params(model.config)


def test_published_presets_have_the_published_counts_and_match_hugging_face():
    """Catches a wrong preset (heads, d_kv, d_ff, layers) or a head counted twice when tied."""
    assert t5.num_params(t5.make("small").config) == SMALL_PARAMS
    assert t5.num_params(t5.make("small_v1_1").config) == SMALL_V1_1_PARAMS
    torch = import_reference("torch")
    transformers = import_reference("transformers")
    common = dict(vocab_size=32128, d_model=512, d_kv=64)
    small = transformers.T5Config(**common, d_ff=2048, num_layers=6, num_heads=8)
    v1_1 = transformers.T5Config(
        **common,
        d_ff=1024,
        num_layers=8,
        num_heads=6,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
    )
    with torch.device("meta"):
        hf_small = transformers.T5ForConditionalGeneration(small)
        hf_v1_1 = transformers.T5ForConditionalGeneration(v1_1)
        # transformers 5.x ties lm_head to shared.weight even for v1.1 (it unties on loading a
        # checkpoint with its own lm_head): untie it as the published checkpoint is.
        hf_v1_1.lm_head.weight = torch.nn.Parameter(torch.empty(32128, 512))
    assert sum(p.numel() for p in hf_small.parameters()) == SMALL_PARAMS  # shared counted once
    assert sum(p.numel() for p in hf_v1_1.parameters()) == SMALL_V1_1_PARAMS


def test_padding_of_the_input_changes_nothing():
    """Catches an encoder or cross-attention that attends to padding: changing the padded input
    tokens (under the mask) leaves every logit of that row unchanged. (v1.1 on padded batches:
    the Hugging Face parity test.)"""
    model, params = _model()
    mask = jnp.array([[1, 1, 1, 1, 0, 0], [1] * 6], bool)
    decoder_inputs = jnp.array([[0, 3, 4], [0, 5, 6]], jnp.int32)
    apply = jax.jit(lambda x: model.apply({"params": params}, x, decoder_inputs, mask=mask))
    base = apply(INPUTS)
    changed = apply(INPUTS.at[0, 4:].set(jnp.array([21, 22])))
    np.testing.assert_allclose(changed[0], base[0], atol=1e-6)
    # ...while a real token does matter (the mask is not masking everything).
    assert np.abs(apply(INPUTS.at[0, 1].set(23))[0] - base[0]).max() > 1e-3


def test_decoder_is_causal():
    """Catches a decoder whose self-attention (or its relative bias) sees later positions."""
    model, params = _model()
    dec = jnp.array([[0, 3, 4, 5, 6], [0, 7, 8, 9, 10]], jnp.int32)
    apply = jax.jit(lambda d: model.apply({"params": params}, INPUTS, d))
    base, changed = apply(dec), apply(dec.at[:, 3:].set(11))
    np.testing.assert_allclose(changed[:, :3], base[:, :3], atol=1e-6)
    assert np.abs(changed[:, 3:] - base[:, 3:]).max() > 1e-3


MASK = INPUTS != 0
DEC = jnp.array([[0, 3], [0, 4]], jnp.int32)


def _decoder_output(module):
    encoded = module.encode(INPUTS, MASK)
    return module.decoder(module.embed(DEC), encoded=encoded, encoded_mask=MASK)


def test_tied_head_rescales_the_decoder_output_by_inverse_sqrt_d():
    """The v1.0 head is the shared embedding applied to decoder_output * d_model**-0.5; v1.1 has
    its own lm_head and no rescale. Computed here from the decoder's final hidden state."""
    for feed_forward in ("relu", "gated-gelu"):
        tied = feed_forward == "relu"
        model, params = _model(feed_forward)
        x = jax.jit(lambda p, m=model: m.apply({"params": p}, method=_decoder_output))(params)
        if tied:
            table = params["embed"]["embedding"]
            expected = (x * 16**-0.5) @ table.T
            assert "lm_head" not in params
        else:
            expected = x @ params["lm_head"]["kernel"]
        logits = jax.jit(lambda p, m=model: m.apply({"params": p}, INPUTS, DEC, mask=MASK))(params)
        np.testing.assert_allclose(logits, expected, atol=1e-5)


def test_relative_position_bias_is_one_table_per_stack_shared_by_every_layer():
    """Catches per-layer bias tables (T5 computes the bias in its first layer and passes it on):
    exactly one rel_embedding per stack, whatever the depth."""
    model = _small(num_encoder_layers=3, num_decoder_layers=3)
    params = jax.eval_shape(lambda: _init(model))
    flat = traverse_util.flatten_dict(params, sep="/")
    assert sorted(k for k in flat if "rel" in k) == [
        "decoder/rel_bias/rel_embedding",
        "encoder/rel_bias/rel_embedding",
    ]
    assert params["encoder"]["rel_bias"]["rel_embedding"].shape == (32, 2)


@pytest.mark.parametrize("feed_forward", ["relu", "gated-gelu"])
def test_cached_decoding_equals_the_full_forward_token_by_token(feed_forward):
    """Catches a wrong cache offset, a relative bias computed for the wrong query position, or a
    cross-attention that loses the encoder mask while decoding."""
    model, params = _model(feed_forward)
    targets = jnp.array([[3, 4, 5, 6, 7], [8, 9, 10, 11, 12]], jnp.int32)
    dec = t5.shift_right(targets, 0)
    full = model.apply({"params": params}, INPUTS, dec, mask=MASK)  # [2,5,V]
    step = jax.jit(lambda tokens, cache: model.apply({"params": params}, tokens, cache=cache))
    first = jax.jit(lambda cache: model.apply({"params": params}, INPUTS, cache=cache, mask=MASK))
    cache = model.init_cache(2, 6)
    logits, cache = first(cache)  # encodes, runs the start token
    assert logits.shape == (2, 1, V)
    pieces = [logits]
    for t in range(4):
        logits, cache = step(targets[:, t : t + 1], cache)
        pieces.append(logits)
    np.testing.assert_allclose(jnp.concatenate(pieces, axis=1), full, atol=2e-5)
    # Two tokens at once continue the same way.
    _, cache = first(model.init_cache(2, 6))
    logits, cache = step(targets[:, :2], cache)
    np.testing.assert_allclose(logits, full[:, 1:3], atol=2e-5)
    assert int(cache.layers["block_0"].index) == 3


def test_explicit_encoder_output_in_the_cache_equals_the_first_call():
    model, params = _model()
    mask = INPUTS != 0
    encoded = model.apply({"params": params}, INPUTS, mask, method=model.encode)
    cache = t5.start_decoding(model.init_cache(2, 4), encoded, mask)
    start = jnp.zeros((2, 1), jnp.int32)
    explicit, _ = model.apply({"params": params}, start, cache=cache)
    first, _ = model.apply({"params": params}, INPUTS, cache=model.init_cache(2, 4), mask=mask)
    np.testing.assert_allclose(explicit, first, atol=1e-6)


def test_the_encoder_mask_is_explicit_and_a_real_token_0_is_not_padding():
    """Catches an encoder mask guessed from the ids (inputs != pad_id): with mask=None every token
    is real, id 0 included, in the full forward and in the decoding protocol's first call."""
    model, params = _model()
    inputs = jnp.array([[5, 0, 7, 8, 0, 0], [9, 10, 0, 12, 13, 14]], jnp.int32)
    every = jnp.ones(inputs.shape, bool)
    apply = jax.jit(lambda m: model.apply({"params": params}, inputs, DEC, mask=m))
    default = model.apply({"params": params}, inputs, DEC)
    np.testing.assert_allclose(default, apply(every), atol=1e-6)
    assert np.abs(default - apply(inputs != 0)).max() > 1e-3  # the 0s do count as tokens
    first, _ = model.apply({"params": params}, inputs, cache=model.init_cache(2, 2))
    np.testing.assert_allclose(first, default[:, :1], atol=1e-5)
    with pytest.raises(ValueError, match=r"mask must be bool \[B,S\] like the inputs"):
        model.apply({"params": params}, inputs, DEC, mask=every[:, :3])


def test_decoding_caches_follow_the_decoder_length_and_scores_equal_the_full_forward():
    """An encoder input of 5 tokens (row 1 right-padded to them) and 12 generated tokens: the
    decoder caches hold 1 + 12 positions (not 5 + 12), and the per-step logits and log-probs that
    decode returns equal one teacher-forced full forward over the generated tokens. Catches a
    cache sized by the encoder input, and scores taken from the wrong step."""
    model, params = _model()
    inputs = jnp.array([[5, 6, 7, 8, 9], [10, 11, 12, 0, 0]], jnp.int32)
    mask = jnp.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    cache = decoding.new_cache(model, 2, 5, 12)
    assert cache.layers["block_0"].key.shape == (2, 13, 2, 8)
    tokens, logprobs, logits = decoding.decode(
        model, params, inputs, num_tokens=12, select=TokenChooser(1.0), rng=jax.random.key(4),
        prompt_mask=mask, return_logprobs=True, return_logits=True,
    )  # fmt: skip
    full = model.apply({"params": params}, inputs, t5.shift_right(tokens, 0), mask=mask)
    np.testing.assert_allclose(logits, full, atol=2e-5)
    want = jnp.take_along_axis(jax.nn.log_softmax(full), tokens[..., None], -1)[..., 0]
    np.testing.assert_allclose(logprobs, want, atol=2e-5)
    assert len(np.unique(np.asarray(tokens))) > 2  # sampled, not a constant


def test_the_decoder_bias_uses_causal_buckets_by_hand():
    """The decoder's relative bias reads T5's unidirectional buckets: keys after the query share
    bucket 0; a key d <= 15 positions back is bucket d, farther ones are 16 + int(log(d / 16) /
    log(128 / 16) * 16). Catches bidirectional buckets in the decoder (distance 12 would be
    bucket 8 + int(log(12 / 8) / log(16) * 8) = 9 and keys after the query 16 + d), which the
    causal mask hides from every other test. The table holds its bucket ids: bias = bucket."""
    model, params = _model()
    table = jnp.broadcast_to(jnp.arange(32.0)[:, None], (32, 2))
    params = {**params, "decoder": {**params["decoder"], "rel_bias": {"rel_embedding": table}}}
    decoder_inputs = jnp.zeros((1, 20), jnp.int32)
    _, state = model.apply(
        {"params": params}, INPUTS[:1], decoder_inputs, capture_intermediates=True
    )
    bias = state["intermediates"]["decoder"]["rel_bias"]["__call__"][0][0, 1]  # [T,S], head 1
    assert bias.shape == (20, 20)
    # Query 19: keys 19 back to 0 are distances 0..19; 16 + int(log(d/16)/log(8)*16) for d >= 16:
    # d=16 -> 16, d=17 -> 16 + int(0.467) = 16, d=18 -> 16 + int(0.906) = 16, d=19 -> 17.
    want_row = [17, 16, 16, 16, *range(15, -1, -1)]
    np.testing.assert_array_equal(bias[19], want_row)
    np.testing.assert_array_equal(bias[0, 1:], 0)  # keys after query 0: bucket 0
    np.testing.assert_array_equal(bias[12, :13], range(12, -1, -1))


def test_generation_through_the_decoding_protocol():
    """`research.generate.decoding.decode` drives T5 unchanged: prompts are the encoder inputs.
    The sampled tokens equal a reference loop of full forwards with the same per-step keys."""
    model, params = _model()
    chooser = TokenChooser(temperature=1.0)
    rng = jax.random.key(3)
    out = decoding.decode(
        model, params, INPUTS, num_tokens=5, select=chooser, rng=rng, prompt_mask=MASK
    )
    assert out.shape == (2, 5)
    tokens = jnp.zeros((2, 0), jnp.int32)
    full = jax.jit(lambda d: model.apply({"params": params}, INPUTS, d, mask=MASK))
    for i in range(5):
        # Fixed length 5 (one compilation): position i sees only the tokens before it.
        logits = full(t5.shift_right(jnp.pad(tokens, ((0, 0), (0, 5 - i))), 0))[:, i]
        tokens = jnp.concatenate([tokens, chooser(logits, jax.random.fold_in(rng, i))[:, None]], 1)
    np.testing.assert_array_equal(out, tokens)
    assert len(np.unique(np.asarray(out))) > 2  # sampling, not a constant
    greedy = decoding.decode(
        model, params, INPUTS, num_tokens=3, select=TokenChooser(0.0), rng=rng, prompt_mask=MASK
    )
    np.testing.assert_array_equal(
        greedy[:, 0], jnp.argmax(full(jnp.zeros((2, 5), jnp.int32))[:, 0], -1)
    )


def test_dropout_only_in_training():
    model, params = _model()
    model = model.clone(config=dataclasses.replace(model.config, dropout_rate=0.3))
    dec = jnp.array([[0, 3, 4], [0, 5, 6]], jnp.int32)

    @functools.partial(jax.jit, static_argnums=0)
    def run(train, seed):
        return model.apply(
            {"params": params}, INPUTS, dec, train=train, rngs={"dropout": jax.random.key(seed)}
        )

    np.testing.assert_array_equal(run(False, 0), run(False, 1))
    assert np.abs(run(True, 0) - run(True, 1)).max() > 1e-3


def test_errors_are_one_sentence_value_errors():
    model, params = _model()
    with pytest.raises(ValueError, match="decoder_inputs for a full forward"):
        model.apply({"params": params}, INPUTS)
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 40\)"):
        model.apply({"params": params}, INPUTS.at[0, 0].set(40), INPUTS[:, :2])
    with pytest.raises(ValueError, match=r"inputs must be int32\[B,T\]"):
        model.apply({"params": params}, INPUTS[0], INPUTS[:, :2])
    # A sequence past the cache: 3 slots, the start token and 2 more fill it.
    cache = model.init_cache(2, 3)
    _, cache = model.apply({"params": params}, INPUTS, cache=cache)
    with pytest.raises(ValueError, match="holds 3 positions and 1 are filled; 3 more"):
        model.apply({"params": params}, INPUTS[:, :3], cache=cache)
    with pytest.raises(ValueError, match="Unknown t5 variant 'base'"):
        t5.make("base")
    with pytest.raises(ValueError, match=r"Unknown t5 Config field\(s\) \['d_model'\]"):
        t5.make("tiny", d_model=4)
    with pytest.raises(ValueError, match="Unknown T5 feed_forward 'gated-silu'"):
        t5.make("tiny", feed_forward="gated-silu")
