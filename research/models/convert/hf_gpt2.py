"""Hugging Face GPT-2 checkpoints -> `research.models.transformer_lm` parameters.

Works offline on a state dict loaded from a local path (nothing downloads):

    from research.models import transformer_lm
    from research.models.convert import hf_gpt2
    config = transformer_lm.make("gpt2_small").config
    params = hf_gpt2.from_hf_gpt2_state_dict(torch.load(path), config)

Parameter mapping (HF Conv1D weights are stored [in, out], so kernels are reshaped, not transposed):
  wte.weight [V,D] -> embed/embedding (zero rows appended up to the padded vocabulary)
  wpe.weight -> pos_embed/embedding; ln_f -> ln_f
  h.{i}.ln_1 / ln_2 -> block_{i}/ln1 / ln2
  h.{i}.attn.c_attn [D, 3D] (q | k | v, each heads-major [N*H]) -> attn/{query,key,value} [D,N,H]
  h.{i}.attn.c_proj [D, D] -> attn/out [N,H,D]
  h.{i}.mlp.c_fc / c_proj -> mlp/wi / wo
  lm_head.weight: ignored (tied to the token embedding)
"""

import jax.numpy as jnp
import numpy as np

from research.models.transformer_lm import Config


def _pad_rows(embedding: np.ndarray, config: Config) -> np.ndarray:
    """[V, D] -> [padded V, D] with zero rows (never read: their logits are sliced off)."""
    pad = config.padded_vocab_size - embedding.shape[0]
    return np.pad(embedding, ((0, pad), (0, 0)))


def from_hf_gpt2_state_dict(state_dict, config: Config) -> dict:
    """Converts a Hugging Face GPT-2 state dict (`GPT2LMHeadModel` or `GPT2Model`) to our params.

    Works offline on a checkpoint loaded from a local path, e.g.
    `from_hf_gpt2_state_dict(torch.load(path), make('gpt2_small').config)`. Values may be torch
    tensors or numpy arrays. HF's Conv1D weights are stored [in, out], so kernels are reshaped,
    not transposed. `lm_head.weight` is ignored (tied to the token embedding).

    Returns: a nested dict of numpy arrays in `config.param_dtype`, for
    `model.apply({'params': params}, tokens)`.
    """
    sd = {}
    for key, value in state_dict.items():
        key = key.removeprefix("transformer.")
        if hasattr(value, "detach"):  # torch.Tensor, without importing torch
            value = value.detach().cpu().float().numpy()
        sd[key] = np.asarray(value)

    d, n, h = config.embed_dim, config.num_heads, config.head_dim
    dtype = jnp.dtype(config.param_dtype)

    def get(key, shape):
        if key not in sd:
            raise ValueError(f"GPT-2 state dict has no {key!r}; is this a GPT-2 checkpoint?")
        if sd[key].shape != tuple(shape):
            raise ValueError(
                f"GPT-2 state dict entry {key!r} has shape {sd[key].shape}, the config expects "
                f"{tuple(shape)}; build the Config to match the checkpoint."
            )
        return sd[key].astype(dtype)

    def layer_norm(prefix):
        return {"scale": get(f"{prefix}.weight", (d,)), "bias": get(f"{prefix}.bias", (d,))}

    params = {
        "embed": {"embedding": _pad_rows(get("wte.weight", (config.vocab_size, d)), config)},
        "pos_embed": {"embedding": get("wpe.weight", (config.max_len, d))},
        "ln_f": layer_norm("ln_f"),
    }
    for i in range(config.num_layers):
        p = f"h.{i}"
        qkv_kernel = get(f"{p}.attn.c_attn.weight", (d, 3 * d))  # [D, 3 * N * H], q|k|v
        qkv_bias = get(f"{p}.attn.c_attn.bias", (3 * d,))
        attn = {
            name: {
                "kernel": qkv_kernel[:, j * d : (j + 1) * d].reshape(d, n, h),
                "bias": qkv_bias[j * d : (j + 1) * d].reshape(n, h),
            }
            for j, name in enumerate(("query", "key", "value"))
        }
        attn["out"] = {
            "kernel": get(f"{p}.attn.c_proj.weight", (d, d)).reshape(n, h, d),
            "bias": get(f"{p}.attn.c_proj.bias", (d,)),
        }
        params[f"block_{i}"] = {
            "ln1": layer_norm(f"{p}.ln_1"),
            "attn": attn,
            "ln2": layer_norm(f"{p}.ln_2"),
            "mlp": {
                "wi": {
                    "kernel": get(f"{p}.mlp.c_fc.weight", (d, config.mlp_dim)),
                    "bias": get(f"{p}.mlp.c_fc.bias", (config.mlp_dim,)),
                },
                "wo": {
                    "kernel": get(f"{p}.mlp.c_proj.weight", (config.mlp_dim, d)),
                    "bias": get(f"{p}.mlp.c_proj.bias", (d,)),
                },
            },
        }
    return params
