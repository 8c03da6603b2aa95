"""Tests for research/models/convert/hf_gpt2.py.

Reference-free: a state dict whose every q/k/v slice, head and width position holds a distinct
constant lands exactly where the layout says, and export inverts import exactly. Parity (skipped
without torch/transformers, failed under CI), against Hugging Face `GPT2LMHeadModel`s built from
a config with random weights (nothing downloaded): an HF model saved to a folder and imported, and
our model exported to a folder that `from_pretrained` loads, score the same left-padded batch
with attention masks within 1e-4 in float32; greedy cached decoding of a left-padded batch equals
HF's `generate` token for token. Unrepresentable configs and wrong tensors are refused by name;
GPT-2 small's parameter count equals the HF model's.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.generate.sampling import left_pad, sample
from research.models import transformer_lm as lm
from research.models.convert import hf_gpt2
from research.models.convert.hf_gpt2 import from_state_dict
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
    params = from_state_dict(sd, config)
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


def _config(**overrides):
    values = dict(vocab_size=V, max_len=MAX_LEN, num_layers=LAYERS, embed_dim=D, num_heads=N,
                  mlp_dim=F)  # fmt: skip
    return lm.make(**{**values, **overrides}).config


def test_export_inverts_import_exactly():
    config = _config(vocab_pad_multiple=8)
    sd = _labelled_state_dict()
    back = hf_gpt2.to_state_dict(from_state_dict(sd, config), config)
    assert sorted(back) == sorted(sd)
    for name, value in sd.items():
        np.testing.assert_array_equal(back[name], np.float32(value), err_msg=name)


def test_missing_misshapen_and_unexpected_tensors_are_named():
    config = _config()
    sd = _labelled_state_dict()
    del sd["transformer.h.1.attn.c_attn.bias"]
    with pytest.raises(ValueError, match=r"no tensor 'h.1.attn.c_attn.bias'"):
        from_state_dict(sd, config)
    sd = _labelled_state_dict()
    sd["transformer.h.0.mlp.c_fc.weight"] = np.zeros((D, F + 1), np.float32)
    with pytest.raises(ValueError, match=r"'h.0.mlp.c_fc.weight' has shape \(6, 9\)"):
        from_state_dict(sd, config)
    sd = _labelled_state_dict()
    sd["transformer.h.2.attn.c_attn.weight"] = np.zeros((D, 3 * D), np.float32)  # a 3rd layer
    with pytest.raises(ValueError, match=r"1 unexpected tensor.*'h.2.attn.c_attn.weight'"):
        from_state_dict(sd, config)
    sd = _labelled_state_dict()
    sd["lm_head.weight"] = sd["transformer.wte.weight"] + 1.0
    with pytest.raises(ValueError, match="lm_head.weight differs from wte.weight"):
        from_state_dict(sd, config)
    sd["lm_head.weight"] = sd["transformer.wte.weight"]  # tied: accepted
    sd["transformer.h.0.attn.bias"] = np.tril(np.ones((1, 1, 4, 4)))  # an old causal buffer
    from_state_dict(sd, config)


@pytest.mark.parametrize(
    "field, value",
    [
        ("activation_function", "relu"),
        ("scale_attn_by_inverse_layer_idx", True),
        ("scale_attn_weights", False),
        ("add_cross_attention", True),
        ("tie_word_embeddings", False),
        ("embd_pdrop", 0.3),
        ("model_type", "gpt_neo"),
    ],
)
def test_unrepresentable_config_fields_are_refused_by_name(field, value):
    hf = hf_gpt2.config_to_hf(_config())
    with pytest.raises(ValueError, match=field):
        hf_gpt2.config_from_hf({**hf, field: value})


def test_config_round_trip_and_the_gpt2_defaults():
    config = _config(dropout_rate=0.1, attention_dropout_rate=0.05, norm_epsilon=1e-6)
    assert hf_gpt2.config_from_hf(hf_gpt2.config_to_hf(config)) == config
    # An HF config.json lists only what differs from GPT2Config's defaults: GPT-2 small's.
    small = hf_gpt2.config_from_hf(
        {"model_type": "gpt2", "activation_function": "gelu_pytorch_tanh"}
    )
    assert small == lm.make("gpt2_small", dropout_rate=0.1, attention_dropout_rate=0.1).config


def test_save_refuses_an_existing_folder_and_writes_nothing(tmp_path):
    config = _config()
    params = from_state_dict(_labelled_state_dict(), config)
    (tmp_path / "out").mkdir()
    with pytest.raises(ValueError, match="already exists"):
        hf_gpt2.save(tmp_path / "out", config, params)
    assert list((tmp_path / "out").iterdir()) == [] and len(list(tmp_path.iterdir())) == 1


GPT2_SMALL = 124_439_808


def test_gpt2_small_parameter_count_equals_hf():
    transformers = import_reference("transformers")
    torch = import_reference("torch")
    unpadded = lm.make("gpt2_small", vocab_pad_multiple=1).config
    assert lm.num_params(unpadded) == GPT2_SMALL
    # Our default table is padded from 50257 to 50304 rows: 47 * 768 = 36,096 more parameters.
    padded = lm.make("gpt2_small").config
    assert lm.num_params(padded) == GPT2_SMALL + 36_096
    with torch.device("meta"):
        hf = transformers.GPT2LMHeadModel(transformers.GPT2Config())
    assert sum(p.numel() for p in hf.parameters()) == GPT2_SMALL  # lm_head tied: counted once
    assert hf_gpt2.config_from_hf(hf.config.to_dict(), vocab_pad_multiple=1) == dataclasses.replace(
        unpadded, dropout_rate=0.1, attention_dropout_rate=0.1
    )


HF_KW = dict(vocab_size=257, n_positions=32, n_embd=64, n_layer=2, n_head=4)


def _hf_model():
    torch = import_reference("torch")
    transformers = import_reference("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        **HF_KW,
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


def _padded_batch():
    """Left-padded tokens [3, 20] (0, 7 and 12 pads), mask, and HF's position ids."""
    tokens = np.random.default_rng(0).integers(0, 257, size=(3, 20), dtype=np.int64)
    mask = np.ones((3, 20), np.int64)
    mask[1, :7] = 0
    mask[2, :12] = 0
    tokens[mask == 0] = 0
    positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0)
    return tokens, mask, positions


def _compare(ours, hf, tokens, mask, positions):
    torch = import_reference("torch")
    with torch.no_grad():
        expected = hf(
            torch.from_numpy(tokens),
            attention_mask=torch.from_numpy(mask),
            position_ids=torch.from_numpy(positions),
        ).logits.numpy()
    model, params = ours
    logits = jax.jit(lambda p, t, m: model.apply({"params": p}, t, mask=m))(
        params, jnp.asarray(tokens, jnp.int32), jnp.asarray(mask, bool)
    )
    real = mask.astype(bool)
    error = np.abs(np.asarray(logits)[real] - expected[real]).max()
    print(f"max |logits - HF logits| over real positions = {error:.3g}")
    assert error <= 1e-4, error
    assert np.abs(expected[real]).max() > 0.1  # not a comparison between near-zero logits


def test_import_from_a_folder_matches_hf_on_a_padded_batch(tmp_path):
    hf = _hf_model()
    hf.save_pretrained(tmp_path / "hf")
    model, params = hf_gpt2.load(tmp_path / "hf")
    assert (model.config.vocab_size, model.config.num_layers, model.config.mlp_dim) == (257, 2, 256)
    _compare((model, params), hf, *_padded_batch())


def test_export_to_a_folder_loads_in_hf_and_matches_on_a_padded_batch(tmp_path):
    transformers = import_reference("transformers")
    model = lm.make(vocab_size=257, max_len=32, num_layers=2, embed_dim=64, num_heads=4,
                    mlp_dim=256)  # fmt: skip
    params = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 8), jnp.int32))["params"]
    # Our init has zero biases and unit LayerNorm scales: perturb every leaf so each placement
    # matters.
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    params = jax.tree.unflatten(
        tree, [x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)]
    )
    folder = hf_gpt2.save(tmp_path / "export", model.config, params)
    hf, info = transformers.GPT2LMHeadModel.from_pretrained(
        folder, attn_implementation="eager", output_loading_info=True
    )
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    _compare((model, params), hf.eval(), *_padded_batch())
    # And back: importing the export gives the same parameters (the vocabulary padding aside).
    _, again = hf_gpt2.load(folder)
    flat = jax.tree.leaves_with_path(params)
    for (path, ours), theirs in zip(flat, jax.tree.leaves(again), strict=True):
        if "embed" in jax.tree_util.keystr(path) and "pos_embed" not in jax.tree_util.keystr(path):
            ours, theirs = ours[:257], theirs[:257]
        np.testing.assert_array_equal(np.asarray(ours), theirs, err_msg=jax.tree_util.keystr(path))


def test_greedy_decoding_of_a_left_padded_batch_equals_hf_generate(tmp_path):
    # Our KV-cached decoding of an imported model against transformers' own generate(), which
    # takes positions from the attention mask: a left-padded batch, greedy, token for token.
    torch = import_reference("torch")
    hf = _hf_model()
    torch.manual_seed(1)
    with torch.no_grad():  # larger weights than HF's init, so greedy output does not repeat
        for param in hf.parameters():
            if param.ndim == 2:
                param.add_(0.2 * torch.randn_like(param))
    hf.save_pretrained(tmp_path / "hf")
    model, params = hf_gpt2.load(tmp_path / "hf")
    tokens, mask = left_pad([[5, 9, 200, 31, 7], [17], [250, 3, 3]], pad_id=0)
    ours = sample(model, params, tokens, num_tokens=10, rng=jax.random.key(0), temperature=0,
                  prompt_mask=mask)  # fmt: skip
    with torch.no_grad():
        theirs = hf.generate(
            torch.from_numpy(tokens).long(), attention_mask=torch.from_numpy(mask).long(),
            do_sample=False, max_new_tokens=10, pad_token_id=0, eos_token_id=None,
        ).numpy()  # fmt: skip
    np.testing.assert_array_equal(np.asarray(ours), theirs)
    assert len({tuple(row) for row in theirs[:, 5:]}) == 3  # varied rows, not one repeated token
