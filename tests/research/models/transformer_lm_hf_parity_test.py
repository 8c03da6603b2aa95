"""Parity of research/models/transformer_lm.py with Hugging Face's PyTorch GPT-2.

A randomly initialized `GPT2LMHeadModel` (built from a config, nothing downloaded) is converted
with `from_hf_gpt2_state_dict` and both models score the same random tokens in float32.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from research.models import transformer_lm as lm

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _hf_model():
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=257,
        n_positions=32,
        n_embd=64,
        n_layer=2,
        n_head=4,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=1e-5,
        bos_token_id=256,
        eos_token_id=256,
        attn_implementation="eager",
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    assert model.config._attn_implementation == "eager"
    # HF initializes biases to 0 and LayerNorms to (1, 0); randomize them so the converter's
    # placement of every tensor is exercised.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                param.add_(0.1 * torch.randn_like(param))
    return model


def test_logits_match_hf_gpt2():
    hf = _hf_model()
    config = lm.make(
        vocab_size=257, max_len=32, num_layers=2, embed_dim=64, num_heads=4, mlp_dim=256
    ).config
    model = lm.Model(config)
    params = lm.from_hf_gpt2_state_dict(hf.state_dict(), config)

    tokens = np.random.default_rng(0).integers(0, 257, size=(3, 32), dtype=np.int64)
    with torch.no_grad():
        expected = hf(torch.from_numpy(tokens)).logits.numpy()
    logits = np.asarray(model.apply({"params": params}, jnp.asarray(tokens, jnp.int32)))
    max_error = np.abs(logits - expected).max()
    print(f"max |logits - HF logits| = {max_error:.3g}")
    assert max_error <= 1e-4, max_error
    assert np.abs(expected).max() > 0.1  # the comparison is not between near-zero logits


def test_converter_rejects_mismatched_config():
    hf = _hf_model()
    config = lm.make(
        vocab_size=257, max_len=32, num_layers=2, embed_dim=64, num_heads=4, mlp_dim=128
    ).config
    with pytest.raises(ValueError, match="c_fc.weight"):
        lm.from_hf_gpt2_state_dict(hf.state_dict(), config)
