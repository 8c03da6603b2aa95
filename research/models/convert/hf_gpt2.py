"""Hugging Face GPT-2 checkpoints <-> `research.models.transformer_lm`, from and to local folders.

Nothing downloads: a folder is a path you give (`config.json` plus `model.safetensors`, sharded
safetensors or `pytorch_model.bin`, as `GPT2LMHeadModel.save_pretrained` writes it).

    from research.models.convert import hf_gpt2
    model, params = hf_gpt2.load(folder)  # a HF folder -> our model and params
    hf_gpt2.save(new_folder, model.config, params)  # GPT2LMHeadModel.from_pretrained loads it

Parameter mapping (HF Conv1D weights are stored [in, out], so kernels are reshaped, not transposed):
  wte.weight [V,D] -> embed/embedding (zero rows appended up to the padded vocabulary; dropped
    again on export); wpe.weight -> pos_embed/embedding; ln_f -> ln_f
  h.{i}.ln_1 / ln_2 -> block_{i}/ln1 / ln2
  h.{i}.attn.c_attn [D, 3D] (q | k | v, each heads-major [N*H]) -> attn/{query,key,value} [D,N,H]
  h.{i}.attn.c_proj [D, D] -> attn/out [N,H,D]
  h.{i}.mlp.c_fc / c_proj -> mlp/wi / wo
  lm_head.weight: tied to the token embedding (refused if it differs), not written on export.

Config fields our model cannot represent are refused by name (`config_from_hf`): another
activation than GELU-tanh, scale_attn_by_inverse_layer_idx, unscaled attention, cross-attention,
an untied output layer, embedding dropout differing from the residual dropout.
"""

import numpy as np

from research.models import transformer_lm
from research.models.convert.hf_checkpoint import TensorSource, read_folder, write_folder
from research.models.transformer_lm import Config
from research.sharding.partition import strip_boxes

# Both are GELU with the tanh approximation (our 'gelu_tanh'); we write 'gelu_new', GPT-2's own.
ACTIVATIONS = ("gelu_new", "gelu_pytorch_tanh")
# (field, the value we can represent, HF's default when the field is absent).
FIXED_FIELDS = (
    ("scale_attn_weights", True, True),
    ("scale_attn_by_inverse_layer_idx", False, False),
    ("add_cross_attention", False, False),
    ("tie_word_embeddings", True, True),
)


def config_from_hf(hf: dict, **overrides) -> Config:
    """Our `Config` from a GPT-2 `config.json` dict (plus `Config` field overrides, e.g. dtype).

    Raises ValueError naming the first field our model cannot represent. reorder_and_upcast_attn
    is accepted: it changes only the precision of HF's attention, ours runs in float32 anyway.
    """
    if hf.get("model_type", "gpt2") != "gpt2":
        raise ValueError(
            f"config.json has model_type={hf['model_type']!r}; this converter reads 'gpt2' only."
        )
    activation = hf.get("activation_function", "gelu_new")
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"config.json field activation_function={activation!r} cannot be represented: "
            f"transformer_lm uses GELU with the tanh approximation ({' or '.join(ACTIVATIONS)})."
        )
    for field, supported, default in FIXED_FIELDS:
        if hf.get(field, default) != supported:
            raise ValueError(
                f"config.json field {field}={hf.get(field)!r} cannot be represented by "
                f"transformer_lm, which needs {field}={supported}."
            )
    resid, embd = hf.get("resid_pdrop", 0.1), hf.get("embd_pdrop", 0.1)
    if resid != embd:
        raise ValueError(
            f"config.json fields embd_pdrop={embd} and resid_pdrop={resid} differ; transformer_lm "
            "has one dropout_rate for both: set them equal."
        )
    d = hf.get("n_embd", 768)
    values = dict(
        vocab_size=hf.get("vocab_size", 50257),
        max_len=hf.get("n_positions", 1024),
        num_layers=hf.get("n_layer", 12),
        embed_dim=d,
        num_heads=hf.get("n_head", 12),
        mlp_dim=hf.get("n_inner") or 4 * d,
        dropout_rate=resid,
        attention_dropout_rate=hf.get("attn_pdrop", 0.1),
        norm_epsilon=hf.get("layer_norm_epsilon", 1e-5),
    )
    return Config(**{**values, **overrides})


def config_to_hf(config: Config, *, bos_token_id=None, eos_token_id=None) -> dict:
    """The `config.json` dict of a `GPT2LMHeadModel` computing what `config` computes.

    BOS/EOS default to the last id (GPT-2's <|endoftext|> is 50256 = V - 1; our byte vocabulary's
    end-of-text token is 256 = V - 1 too).
    """
    last = config.vocab_size - 1
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": config.vocab_size,
        "n_positions": config.max_len,
        "n_embd": config.embed_dim,
        "n_layer": config.num_layers,
        "n_head": config.num_heads,
        "n_inner": config.mlp_dim,
        "activation_function": "gelu_new",
        "resid_pdrop": config.dropout_rate,
        "embd_pdrop": config.dropout_rate,
        "attn_pdrop": config.attention_dropout_rate,
        "layer_norm_epsilon": config.norm_epsilon,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "add_cross_attention": False,
        "tie_word_embeddings": True,
        "bos_token_id": last if bos_token_id is None else bos_token_id,
        "eos_token_id": last if eos_token_id is None else eos_token_id,
        "dtype": "float32",
    }


def from_state_dict(state_dict, config: Config) -> dict:
    """Our params from a Hugging Face GPT-2 state dict (`GPT2LMHeadModel` or `GPT2Model`).

    Values may be torch tensors or numpy arrays. A missing, misshapen or unexpected tensor raises
    a ValueError naming it (`hf_checkpoint.TensorSource`); so does an `lm_head.weight` that is not
    the token embedding (an untied head our model cannot hold).

    Returns: a nested dict of numpy arrays in `config.param_dtype`, for
    `model.apply({'params': params}, tokens)`.
    """
    source = TensorSource(state_dict, "GPT-2", strip_prefixes=("transformer.",))
    d, n, h, f = config.embed_dim, config.num_heads, config.head_dim, config.mlp_dim
    dtype = np.dtype(config.param_dtype)

    def take(name, shape):
        return source.take(name, shape, dtype)

    def layer_norm(prefix):
        return {"scale": take(f"{prefix}.weight", (d,)), "bias": take(f"{prefix}.bias", (d,))}

    def dense(prefix, d_in, d_out):
        kernel = take(f"{prefix}.weight", (d_in, d_out))
        return {"kernel": kernel, "bias": take(f"{prefix}.bias", (d_out,))}

    wte = take("wte.weight", (config.vocab_size, d))
    pad = config.padded_vocab_size - config.vocab_size
    params = {
        "embed": {"embedding": np.pad(wte, ((0, pad), (0, 0)))},  # padding rows are never read
        "pos_embed": {"embedding": take("wpe.weight", (config.max_len, d))},
        "ln_f": layer_norm("ln_f"),
    }
    for i in range(config.num_layers):
        p = f"h.{i}"
        qkv = dense(f"{p}.attn.c_attn", d, 3 * d)  # [D, 3 * N * H], q | k | v
        attn = {
            name: {
                "kernel": qkv["kernel"][:, j * d : (j + 1) * d].reshape(d, n, h),
                "bias": qkv["bias"][j * d : (j + 1) * d].reshape(n, h),
            }
            for j, name in enumerate(("query", "key", "value"))
        }
        out = dense(f"{p}.attn.c_proj", d, d)
        attn["out"] = {"kernel": out["kernel"].reshape(n, h, d), "bias": out["bias"]}
        params[f"block_{i}"] = {
            "ln1": layer_norm(f"{p}.ln_1"),
            "attn": attn,
            "ln2": layer_norm(f"{p}.ln_2"),
            "mlp": {"wi": dense(f"{p}.mlp.c_fc", d, f), "wo": dense(f"{p}.mlp.c_proj", f, d)},
        }
    if "lm_head.weight" in source:
        head = source.take("lm_head.weight", (config.vocab_size, d), dtype)
        if not np.array_equal(head, wte):
            raise ValueError(
                "The GPT-2 checkpoint's lm_head.weight differs from wte.weight: an untied output "
                "layer, which transformer_lm (tied to its token embedding) cannot represent."
            )
    # Causal-mask buffers that older transformers versions saved with the weights.
    buffers = [f"h.{i}.attn.{b}" for i in range(config.num_layers) for b in ("bias", "masked_bias")]
    source.finish(ignore=tuple(buffers))
    return params


def to_state_dict(params, config: Config) -> dict[str, np.ndarray]:
    """Our params (boxed or not) -> `GPT2LMHeadModel` tensors, float32, without the tied lm_head."""
    params = strip_boxes(params)
    d = config.embed_dim

    def arr(x, *shape):
        return np.ascontiguousarray(np.asarray(x, np.float32).reshape(shape))

    def layer_norm(prefix, p):
        return {f"{prefix}.weight": arr(p["scale"], d), f"{prefix}.bias": arr(p["bias"], d)}

    sd = {
        "transformer.wte.weight": arr(params["embed"]["embedding"][: config.vocab_size], -1, d),
        "transformer.wpe.weight": arr(params["pos_embed"]["embedding"], -1, d),
        **layer_norm("transformer.ln_f", params["ln_f"]),
    }
    for i in range(config.num_layers):
        p, b = f"transformer.h.{i}", params[f"block_{i}"]
        attn, mlp = b["attn"], b["mlp"]
        qkv = ("query", "key", "value")
        sd[f"{p}.attn.c_attn.weight"] = np.concatenate(
            [arr(attn[q]["kernel"], d, d) for q in qkv], 1
        )
        sd[f"{p}.attn.c_attn.bias"] = np.concatenate([arr(attn[q]["bias"], d) for q in qkv])
        sd[f"{p}.attn.c_proj.weight"] = arr(attn["out"]["kernel"], d, d)
        sd[f"{p}.attn.c_proj.bias"] = arr(attn["out"]["bias"], d)
        sd[f"{p}.mlp.c_fc.weight"] = arr(mlp["wi"]["kernel"], d, config.mlp_dim)
        sd[f"{p}.mlp.c_fc.bias"] = arr(mlp["wi"]["bias"], config.mlp_dim)
        sd[f"{p}.mlp.c_proj.weight"] = arr(mlp["wo"]["kernel"], config.mlp_dim, d)
        sd[f"{p}.mlp.c_proj.bias"] = arr(mlp["wo"]["bias"], d)
        sd.update(layer_norm(f"{p}.ln_1", b["ln1"]))
        sd.update(layer_norm(f"{p}.ln_2", b["ln2"]))
    return sd


def load(path, **overrides) -> tuple[transformer_lm.Model, dict]:
    """(our Model, its params) from a local Hugging Face GPT-2 folder; `overrides` are Config
    fields (e.g. dtype='bfloat16'). Refuses unrepresentable configs and wrong tensors by name."""
    hf, tensors = read_folder(path)
    config = config_from_hf(hf, **overrides)
    return transformer_lm.Model(config), from_state_dict(tensors, config)


def save(path, config: Config, params, *, bos_token_id=None, eos_token_id=None):
    """Writes a new folder `path` that `transformers.GPT2LMHeadModel.from_pretrained` loads.

    Atomic and never overwrites (`hf_checkpoint.write_folder`): an existing `path` is refused
    before anything is written. Returns the folder's path.
    """
    tensors = to_state_dict(params, config)
    hf = config_to_hf(config, bos_token_id=bos_token_id, eos_token_id=eos_token_id)
    return write_folder(path, hf, tensors)
