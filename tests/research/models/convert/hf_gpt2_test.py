"""Tests for research/models/convert/hf_gpt2.py.

Reference-free: a state dict whose every q/k/v slice, head and width position holds a distinct
constant lands exactly where the layout says. Parity: a randomly initialized Hugging Face
`GPT2LMHeadModel` (PyTorch, built from a config, nothing downloaded) is converted and both models
score the same random tokens in float32 (skipped without torch/transformers, failed under CI).
"""

import jax.numpy as jnp
import numpy as np
import pytest

from research.models import transformer_lm as lm
from research.models.convert.hf_gpt2 import from_hf_gpt2_state_dict
from tests.reference_packages import import_reference

D, N, H, F, LAYERS, V, MAX_LEN = 6, 2, 3, 8, 2, 5, 4


def _labelled_state_dict():
    """GPT-2 tensors whose entries encode where they come from."""
    d = np.arange(D)[:, None]
    sd = {
        "wte.weight": np.arange(V * D, dtype=np.float32).reshape(V, D),
        "wpe.weight": -np.arange(MAX_LEN * D, dtype=np.float32).reshape(MAX_LEN, D),
        "ln_f.weight": np.full(D, 7.0),
        "ln_f.bias": np.full(D, 8.0),
    }
    for i in range(LAYERS):
        p = f"h.{i}"
        column = np.arange(3 * D)  # q | k | v, each [N*H] heads-major
        slice_, head, width = column // D, (column % D) // H, column % H
        code = 10000 * i + 1000 * slice_ + 100 * head + 10 * width  # [3D]
        sd[f"{p}.attn.c_attn.weight"] = (code[None, :] + d).astype(np.float32)  # + input row
        sd[f"{p}.attn.c_attn.bias"] = code.astype(np.float32)
        row = np.arange(D)  # c_proj input rows are heads-major [N*H]
        sd[f"{p}.attn.c_proj.weight"] = (10000 * i + 100 * (row // H) + 10 * (row % H))[
            :, None
        ] + np.arange(D)[None, :] / 10
        sd[f"{p}.attn.c_proj.bias"] = np.full(D, 10000.0 * i + 1)
        for name, value in (("ln_1", 2), ("ln_2", 3)):
            sd[f"{p}.{name}.weight"] = np.full(D, 10000.0 * i + value)
            sd[f"{p}.{name}.bias"] = np.full(D, 10000.0 * i + value + 0.5)
        sd[f"{p}.mlp.c_fc.weight"] = np.arange(D * F, dtype=np.float32).reshape(D, F) + 10000 * i
        sd[f"{p}.mlp.c_fc.bias"] = np.arange(F, dtype=np.float32) + 10000 * i
        sd[f"{p}.mlp.c_proj.weight"] = -np.arange(F * D, dtype=np.float32).reshape(F, D)
        sd[f"{p}.mlp.c_proj.bias"] = np.full(D, -1.0 - i)
    return {f"transformer.{k}": v for k, v in sd.items()}


def test_every_slice_head_and_width_lands_where_the_layout_says():
    config = lm.make(
        vocab_size=V, vocab_pad_multiple=8, max_len=MAX_LEN, num_layers=LAYERS, embed_dim=D,
        num_heads=N, mlp_dim=F,
    ).config  # fmt: skip
    sd = _labelled_state_dict()
    params = from_hf_gpt2_state_dict(sd, config)
    embedding = params["embed"]["embedding"]
    assert embedding.shape == (8, D)  # padded to the multiple, zero rows appended
    np.testing.assert_array_equal(embedding[:V], sd["transformer.wte.weight"])
    np.testing.assert_array_equal(embedding[V:], 0)
    np.testing.assert_array_equal(params["pos_embed"]["embedding"], sd["transformer.wpe.weight"])
    n, h, d = np.meshgrid(np.arange(N), np.arange(H), np.arange(D), indexing="ij")
    for i in range(LAYERS):
        block = params[f"block_{i}"]
        for j, name in enumerate(("query", "key", "value")):
            code = 10000 * i + 1000 * j + 100 * n + 10 * h  # [N,H,D]
            kernel = block["attn"][name]["kernel"]  # [D,N,H]
            np.testing.assert_array_equal(kernel, np.transpose(code + d, (2, 0, 1)))
            np.testing.assert_array_equal(block["attn"][name]["bias"], code[..., 0])
        out = block["attn"]["out"]["kernel"]  # [N,H,D]
        np.testing.assert_allclose(out, 10000 * i + 100 * n + 10 * h + d / 10)
        assert (
            block["ln1"]["scale"][0] == 10000 * i + 2 and block["ln2"]["bias"][0] == 10000 * i + 3.5
        )
        np.testing.assert_array_equal(
            block["mlp"]["wi"]["kernel"], sd[f"transformer.h.{i}.mlp.c_fc.weight"]
        )
        np.testing.assert_array_equal(block["mlp"]["wo"]["bias"], -1.0 - i)
    assert params["ln_f"]["scale"][0] == 7 and params["ln_f"]["bias"][0] == 8


def test_missing_tensor_is_named():
    config = lm.make(
        vocab_size=V, max_len=MAX_LEN, num_layers=LAYERS, embed_dim=D, num_heads=N, mlp_dim=F
    ).config
    sd = _labelled_state_dict()
    del sd["transformer.h.1.attn.c_attn.bias"]
    with pytest.raises(ValueError, match=r"no 'h.1.attn.c_attn.bias'; is this a GPT-2"):
        from_hf_gpt2_state_dict(sd, config)


def _hf_model():
    torch = import_reference("torch")
    transformers = import_reference("transformers")
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
    params = from_hf_gpt2_state_dict(hf.state_dict(), config)

    tokens = np.random.default_rng(0).integers(0, 257, size=(3, 32), dtype=np.int64)
    torch = import_reference("torch")
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
        from_hf_gpt2_state_dict(hf.state_dict(), config)
