"""Tests for research/nn/transformer_block.py: pre-LN and post-LN written out with the block's own
sub-layers, cross-attention reads the encoder output, the T5 variant (RMSNorm, gated MLP, no
biases), remat, and bad choices refused by name."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.nn.attention import MultiHeadAttention
from research.nn.mlp import GatedMlpBlock, MlpBlock
from research.nn.norm import LayerNorm, RMSNorm
from research.nn.transformer_block import TransformerBlock

KW = dict(num_heads=2, head_dim=4, mlp_dim=16)


def _random(variables, seed=1):
    # Perturb every parameter (norm scales and biases included) so each placement matters.
    leaves, tree = jax.tree.flatten(nn.unbox(variables["params"]))
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(
        tree, [a + 0.3 * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys, strict=True)]
    )


def _pieces(params, x, encoded=None, causal=False):
    """Each sub-layer applied alone with its slice of the block's parameters."""
    attn = MultiHeadAttention(num_heads=2, head_dim=4)
    norm = LayerNorm()
    mlp = MlpBlock(mlp_dim=16)
    return {
        "ln1": lambda h: norm.apply({"params": params["ln1"]}, h),
        "ln2": lambda h: norm.apply({"params": params["ln2"]}, h),
        "ln_cross": lambda h: norm.apply({"params": params["ln_cross"]}, h),
        "attn": lambda h: attn.apply({"params": params["attn"]}, h, causal=causal),
        "cross": lambda h: attn.apply({"params": params["cross_attn"]}, h, encoded),
        "mlp": lambda h: mlp.apply({"params": params["mlp"]}, h),
    }


@pytest.mark.parametrize("placement", ["pre", "post"])
def test_residual_branches_and_norm_placement(placement):
    block = TransformerBlock(**KW, norm_placement=placement, causal=True, cross_attention=True)
    x = jax.random.normal(jax.random.key(0), (2, 5, 8))
    encoded = jax.random.normal(jax.random.key(2), (2, 3, 8))
    params = _random(block.init(jax.random.key(3), x, encoded))
    f = _pieces(params, x, encoded, causal=True)
    if placement == "pre":
        h = x + f["attn"](f["ln1"](x))
        h = h + f["cross"](f["ln_cross"](h))
        want = h + f["mlp"](f["ln2"](h))
    else:
        h = f["ln1"](x + f["attn"](x))
        h = f["ln_cross"](h + f["cross"](h))
        want = f["ln2"](h + f["mlp"](h))
    got = block.apply({"params": params}, x, encoded)
    np.testing.assert_allclose(got, want, atol=1e-5)
    other = "post" if placement == "pre" else "pre"
    swapped = TransformerBlock(**KW, norm_placement=other, causal=True, cross_attention=True)
    assert not np.allclose(swapped.apply({"params": params}, x, encoded), want, atol=1e-2)


def test_t5_variant_rms_norm_gated_mlp_no_biases():
    block = TransformerBlock(
        **KW, norm="rms", norm_epsilon=1e-6, mlp="gated", use_bias=False, attention_scale=1.0
    )
    x = jax.random.normal(jax.random.key(0), (1, 4, 8))
    params = _random(block.init(jax.random.key(1), x))
    assert set(params["ln1"]) == {"scale"} and set(params["attn"]["query"]) == {"kernel"}
    assert set(params["mlp"]) == {"wi_0", "wi_1", "wo"}
    norm = RMSNorm(epsilon=1e-6)
    attn = MultiHeadAttention(num_heads=2, head_dim=4, use_bias=False, scale=1.0)
    mlp = GatedMlpBlock(mlp_dim=16)
    h = x + attn.apply({"params": params["attn"]}, norm.apply({"params": params["ln1"]}, x))
    want = h + mlp.apply({"params": params["mlp"]}, norm.apply({"params": params["ln2"]}, h))
    np.testing.assert_allclose(block.apply({"params": params}, x), want, atol=1e-5)


def test_self_attention_bias_and_encoder_mask_reach_their_attention():
    block = TransformerBlock(**KW, cross_attention=True)
    x = jax.random.normal(jax.random.key(0), (1, 3, 8))
    encoded = jax.random.normal(jax.random.key(1), (1, 4, 8))
    params = _random(block.init(jax.random.key(2), x, encoded))
    base = block.apply({"params": params}, x, encoded)
    # Masking the last encoder position equals dropping it.
    mask = jnp.array([True, True, True, False])[None, None, None, :]
    masked = block.apply({"params": params}, x, encoded, encoded_mask=mask)
    dropped = block.apply({"params": params}, x, encoded[:, :3])
    np.testing.assert_allclose(masked, dropped, atol=1e-6)
    assert not np.allclose(masked, base, atol=1e-3)
    bias = 5.0 * jax.random.normal(jax.random.key(3), (1, 2, 3, 3))
    assert not np.allclose(block.apply({"params": params}, x, encoded, bias=bias), base, atol=1e-3)


def test_remat_keeps_values_and_gradients():
    x = jax.random.normal(jax.random.key(0), (2, 4, 8))
    plain = TransformerBlock(**KW, causal=True)
    remat = nn.remat(TransformerBlock, static_argnums=(3,))(**KW, causal=True)
    params = _random(plain.init(jax.random.key(1), x))

    def loss(module, p):
        return jnp.sum(module.apply({"params": p}, x, None, False) ** 2)

    np.testing.assert_allclose(loss(remat, params), loss(plain, params), rtol=1e-6)
    grad = jax.jit(jax.grad(loss, argnums=1), static_argnums=0)  # compiled, not op by op
    for a, b in zip(
        jax.tree.leaves(grad(remat, params)), jax.tree.leaves(grad(plain, params)), strict=True
    ):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_bad_choices_and_missing_encoder_are_refused():
    x = jnp.zeros((1, 2, 8))
    with pytest.raises(ValueError, match=r"Unknown norm_placement 'middle'; choose one of"):
        TransformerBlock(**KW, norm_placement="middle").init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"Unknown norm 'batch'"):
        TransformerBlock(**KW, norm="batch").init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"Unknown mlp 'moe'"):
        TransformerBlock(**KW, mlp="moe").init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="needs the encoder output"):
        TransformerBlock(**KW, cross_attention=True).init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="encoded given"):
        TransformerBlock(**KW).init(jax.random.key(0), x, x)


def test_efficient_attention_settings_reach_the_self_attention():
    # attention_window reaches the layer: the 'local' block equals the einsum block under the
    # window mask. performer_redraw_every reaches it too: the block then carries the layer's
    # step counter (collection 'performer'), under remat as well (the GPT's remat option).
    from research.nn.local_attention import local_mask

    x = jax.random.normal(jax.random.key(2), (2, 6, 8))
    local = TransformerBlock(**KW, causal=True, implementation="local", attention_window=2)
    params = _random(local.init(jax.random.key(3), x))
    np.testing.assert_allclose(
        local.apply({"params": params}, x),
        TransformerBlock(**KW, causal=True).apply(
            {"params": params}, x, mask=local_mask(6, 2, causal=True)
        ),
        atol=1e-5,
    )
    performer = nn.remat(TransformerBlock, static_argnums=(3,))(
        **KW, causal=True, implementation="performer", performer_features=8,
        performer_redraw_every=10,
    )  # fmt: skip
    variables = performer.init(jax.random.key(4), x, None, False)
    assert jax.tree.map(int, variables["performer"]) == {"attn": {"step": 0}}
    _, state = performer.apply(variables, x, None, True, mutable=["performer"])
    assert jax.tree.map(int, state["performer"]) == {"attn": {"step": 1}}
