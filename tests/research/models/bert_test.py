"""Tests for research/models/bert.py: parameter counts (against the published number and Hugging
Face's models built from the same config), padding invariance, bidirectionality, heads, dropout,
bad inputs. Logit parity with PyTorch is in tests/research/models/convert/hf_bert_test.py; the
golden logical axes, make() and dtype in tests/research/models/contract_test.py.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.models import bert
from tests.reference_packages import import_reference

BASE_WITH_POOLER = 109_482_240  # Hugging Face BertModel (bert-base-uncased), no task head
BASE_MASKED_LM = 109_514_298  # Hugging Face BertForMaskedLM: no pooler, MLM head (tied output)


def _count(model):
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 8), jnp.int32))
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nn.unbox(shapes)))


def _small(**overrides):
    values = dict(vocab_size=50, max_len=16, num_layers=1, embed_dim=32, num_heads=4, mlp_dim=64)
    return bert.make("tiny", **{**values, **overrides})


def _init(model, length=16):
    return jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, length), jnp.int32))["params"]


def _apply(model):
    return jax.jit(model.apply, static_argnames="train")


def test_base_param_counts_match_the_published_number_and_hugging_face():
    """Catches a missing or extra tensor (position or segment table, biases, the pooler) and an
    untied MLM output matrix (+ V * D = 23.4M)."""
    encoder = bert.make("base", mlm_head=False)
    masked_lm = bert.make("base", pooler=False)
    assert bert.num_params(encoder.config) == _count(encoder) == BASE_WITH_POOLER
    assert bert.num_params(masked_lm.config) == _count(masked_lm) == BASE_MASKED_LM
    both = bert.make("base")  # the variant as defined: encoder + pooler + MLM head
    assert bert.num_params(both.config) == BASE_WITH_POOLER + 622_650 == _count(both)
    classifier = bert.make("base", mlm_head=False, num_classes=3)
    assert bert.num_params(classifier.config) == BASE_WITH_POOLER + 768 * 3 + 3
    tiny = bert.make("tiny", num_classes=2)
    assert bert.num_params(tiny.config) == _count(tiny)

    torch = import_reference("torch")
    transformers = import_reference("transformers")
    hf_config = transformers.BertConfig()  # bert-base-uncased's shape
    with torch.device("meta"):
        counts = {
            cls: sum(p.numel() for p in getattr(transformers, cls)(hf_config).parameters())
            for cls in ("BertModel", "BertForMaskedLM")
        }
    assert counts == {"BertModel": BASE_WITH_POOLER, "BertForMaskedLM": BASE_MASKED_LM}


def test_outputs_shapes_and_heads():
    model = _small(num_classes=3)
    params = _init(model)
    out = _apply(model)({"params": params}, jnp.ones((2, 16), jnp.int32))
    assert out["hidden"].shape == (2, 16, 32)
    assert out["mlm_logits"].shape == (2, 16, 50) and out["mlm_logits"].dtype == jnp.float32
    assert out["pooled"].shape == (2, 32) and np.all(np.abs(out["pooled"]) <= 1)  # tanh
    assert out["class_logits"].shape == (2, 3)
    encoder_only = _small(mlm_head=False, pooler=False)
    assert set(_apply(encoder_only)({"params": params}, jnp.ones((1, 4), jnp.int32))) == {"hidden"}


def test_padding_is_never_attended_and_attention_is_bidirectional():
    """Changing padded tokens (and their segments) leaves the real positions unchanged; changing
    the last real token changes the first position's output (no causal mask)."""
    model = _small()
    params = _init(model)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50, (2, 16))
    mask = np.arange(16)[None] < np.array([[10], [16]])
    apply = _apply(model)
    forward = lambda t, s: apply(
        {"params": params}, jnp.asarray(t), segments=jnp.asarray(s, jnp.int32), attention_mask=mask
    )["mlm_logits"]
    segments = np.zeros_like(tokens)
    base = forward(tokens, segments)
    other = np.where(mask, tokens, rng.integers(0, 50, tokens.shape))
    changed = forward(other, np.where(mask, segments, 1))
    np.testing.assert_allclose(changed[0, :10], base[0, :10], atol=1e-5)
    assert not np.allclose(changed[0, 10:], base[0, 10:])  # padded outputs did change
    last = tokens.copy()
    last[:, 9] = (last[:, 9] + 1) % 50
    assert not np.allclose(forward(last, segments)[:, 0], base[:, 0], atol=1e-4)
    # The segment embedding is used: segment B on the second half changes the outputs.
    assert not np.allclose(forward(tokens, (np.arange(16)[None] >= 8) + 0 * tokens), base)


def test_dropout_off_is_deterministic_and_on_uses_rng():
    model = _small()  # tiny's dropout: 0.1 hidden, 0.1 attention
    params = _init(model)
    tokens = jnp.arange(32).reshape(2, 16) % 50
    forward = _apply(model)
    eval_a = forward({"params": params}, tokens)["mlm_logits"]
    np.testing.assert_array_equal(eval_a, forward({"params": params}, tokens)["mlm_logits"])
    run = lambda seed: forward(
        {"params": params}, tokens, train=True, rngs={"dropout": jax.random.key(seed)}
    )["mlm_logits"]
    np.testing.assert_array_equal(run(1), run(1))
    assert not np.allclose(run(1), run(2)) and not np.allclose(run(1), eval_a)


def test_make_and_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="'large'.*'base', 'tiny'"):
        bert.make("large")
    with pytest.raises(ValueError, match="num_layer'.*num_layers"):
        bert.make("tiny", num_layer=2)
    with pytest.raises(ValueError, match="embed_dim=128 is not divisible by num_heads=3"):
        bert.make("tiny", num_heads=3)
    with pytest.raises(ValueError, match="num_classes=2 needs the pooler"):
        bert.make("tiny", num_classes=2, pooler=False)


def test_bad_inputs_raise_value_errors():
    model = _small()
    params = _init(model)
    ones = jnp.ones((1, 4), jnp.int32)
    with pytest.raises(ValueError, match="sequence length 17 exceeds max_len=16"):
        _apply(model)({"params": params}, jnp.zeros((1, 17), jnp.int32))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 50\)"):
        model.apply({"params": params}, jnp.array([[0, 50]], jnp.int32))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 2\)"):
        model.apply({"params": params}, ones, segments=2 * ones)
    with pytest.raises(ValueError, match="attention_mask must have the shape of tokens"):
        model.apply({"params": params}, ones, attention_mask=jnp.ones((1, 5)))
    with pytest.raises(ValueError, match=r"int32\[B,T\]"):
        model.apply({"params": params}, jnp.zeros((4,), jnp.int32))
