"""Hugging Face `T5ForConditionalGeneration` (v1.0 and v1.1) <-> `research.models.t5`, both ways.

Offline only: a checkpoint is a local folder (`hf_checkpoint.read_folder`) or a state dict.

    model, params = hf_t5.load("path/to/t5-small")
    hf_t5.save("path/to/new", model.config, params)  # from_pretrained() loads it

Tensor mapping (HF Linear weights are [out, in]; ours [in, ...out], so they are transposed):
  shared.weight [V,D] -> embed/embedding (encoder/decoder.embed_tokens are HF's tied copies)
  {stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight [buckets,N]
      -> {stack}/rel_bias/rel_embedding
  {stack}.block.{i}.layer.0.layer_norm.weight -> {stack}/block_{i}/ln1/scale
  {stack}.block.{i}.layer.0.SelfAttention.{q,k,v}.weight [N*H,D] -> attn/{query,key,value} [D,N,H]
  {stack}.block.{i}.layer.0.SelfAttention.o.weight [D,N*H] -> attn/out [N,H,D]
  decoder.block.{i}.layer.1.{layer_norm, EncDecAttention.*} -> ln_cross, cross_attn
  {stack}.block.{i}.layer.{-1}.layer_norm.weight -> ln2; .DenseReluDense.{wi | wi_0, wi_1, wo}
      -> mlp/{wi | wi_0, wi_1, wo}
  {stack}.final_layer_norm.weight -> {stack}/ln_f/scale
  lm_head.weight [V,D] -> lm_head/kernel [D,V] (v1.1; v1.0 ties it to shared.weight)

Which variant a checkpoint is: Hugging Face rescales the decoder output by d_model**-0.5 unless
the config says `tie_word_embeddings: false` (older files) or `scale_decoder_outputs: false`
(transformers 5.x, which also always ties lm_head to shared.weight unless the checkpoint holds a
different lm_head.weight). Rescaled = our v1.0 (tied); not rescaled = our v1.1 (own lm_head, a copy
of shared.weight when the checkpoint has none). A rescaled checkpoint with its own lm_head is
refused: our model has no such variant.
"""

import numpy as np

from research.models import t5
from research.models.convert.hf_checkpoint import TensorSource, read_folder, write_folder
from research.sharding.partition import strip_boxes

FEED_FORWARD_PROJ = ("relu", "gated-gelu")  # HF names, the same as t5.Config.feed_forward
IGNORED_TENSORS = (
    "encoder.embed_tokens.weight",  # tied copies of shared.weight in HF
    "decoder.embed_tokens.weight",
    # Old checkpoints carry this never-used tensor; Hugging Face ignores it too.
    "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight",
)


def _scaled(hf_config: dict) -> bool:
    """Whether Hugging Face rescales the decoder output (v1.0) for this config."""
    if "scale_decoder_outputs" in hf_config:
        return bool(hf_config["scale_decoder_outputs"])
    return hf_config.get("tie_word_embeddings", True) is not False


def config_from_hf(hf_config: dict, **overrides) -> t5.Config:
    """Our `t5.Config` from a Hugging Face T5 config dict; fields we cannot represent are refused.

    `overrides` set fields HF does not have (dtype, param_dtype, attention_impl). Metadata (names,
    token ids other than pad, generation settings, n_positions) is ignored.
    """

    def refuse(field, value, expected):
        raise ValueError(
            f"Hugging Face T5 config field {field}={value!r} cannot be represented by "
            f"research.models.t5 (expected {expected}); convert a checkpoint without it."
        )

    if hf_config.get("model_type", "t5") != "t5":
        refuse("model_type", hf_config["model_type"], "'t5'")
    projection = hf_config.get("feed_forward_proj", "relu")
    if projection not in FEED_FORWARD_PROJ:
        refuse("feed_forward_proj", projection, f"one of {FEED_FORWARD_PROJ}")
    if hf_config.get("is_decoder", False):
        refuse("is_decoder", hf_config["is_decoder"], "False: the encoder-decoder model")
    if not hf_config.get("is_encoder_decoder", True):
        refuse("is_encoder_decoder", hf_config["is_encoder_decoder"], "True")
    pad_id = hf_config.get("pad_token_id", 0)
    start_id = hf_config.get("decoder_start_token_id", pad_id)
    if start_id != pad_id:
        refuse("decoder_start_token_id", start_id, f"the pad_token_id {pad_id}")
    scaled = _scaled(hf_config)
    num_layers = hf_config.get("num_layers", 6)
    num_decoder_layers = hf_config.get("num_decoder_layers")
    values = dict(
        vocab_size=hf_config.get("vocab_size", 32128),
        embed_dim=hf_config.get("d_model", 512),
        num_heads=hf_config.get("num_heads", 8),
        head_dim=hf_config.get("d_kv", 64),
        mlp_dim=hf_config.get("d_ff", 2048),
        num_encoder_layers=num_layers,
        num_decoder_layers=num_layers if num_decoder_layers is None else num_decoder_layers,
        relative_buckets=hf_config.get("relative_attention_num_buckets", 32),
        relative_max_distance=hf_config.get("relative_attention_max_distance", 128),
        feed_forward=projection,
        tie_embeddings=scaled,
        dropout_rate=float(hf_config.get("dropout_rate", 0.1)),
        norm_epsilon=float(hf_config.get("layer_norm_epsilon", 1e-6)),
        pad_id=pad_id,
    )
    return t5.Config(**{**values, **overrides})


def config_to_hf(config: t5.Config) -> dict:
    """The Hugging Face `T5Config` dict of our config (for config.json)."""
    return {
        "architectures": ["T5ForConditionalGeneration"],
        "model_type": "t5",
        "vocab_size": config.vocab_size,
        "d_model": config.embed_dim,
        "d_kv": config.head_dim,
        "d_ff": config.mlp_dim,
        "num_layers": config.num_encoder_layers,
        "num_decoder_layers": config.num_decoder_layers,
        "num_heads": config.num_heads,
        "relative_attention_num_buckets": config.relative_buckets,
        "relative_attention_max_distance": config.relative_max_distance,
        "dropout_rate": config.dropout_rate,
        "layer_norm_epsilon": config.norm_epsilon,
        "feed_forward_proj": config.feed_forward,
        "tie_word_embeddings": config.tie_embeddings,
        "is_encoder_decoder": True,
        "pad_token_id": config.pad_id,
        "decoder_start_token_id": config.pad_id,
        "eos_token_id": 1,
        "dtype": "float32",
    }


def _layer_names(config: t5.Config, decoder: bool) -> list[tuple[str, str]]:
    """(our sub-tree, HF layer prefix) of one block: attention, [cross-attention], MLP."""
    names = [("attn", "layer.0.SelfAttention"), ("ln1", "layer.0.layer_norm")]
    if decoder:
        names += [("cross_attn", "layer.1.EncDecAttention"), ("ln_cross", "layer.1.layer_norm")]
    last = "layer.2" if decoder else "layer.1"
    names += [("mlp", f"{last}.DenseReluDense"), ("ln2", f"{last}.layer_norm")]
    return names


def _mlp_kernels(config: t5.Config) -> tuple[str, ...]:
    return ("wi_0", "wi_1") if config.feed_forward == "gated-gelu" else ("wi",)


def from_state_dict(state_dict, config: t5.Config) -> dict:
    """Our params (numpy, float32) from a `T5ForConditionalGeneration` state dict (torch tensors
    or numpy arrays) of a model with `config`. Missing, misshapen and unexpected tensors raise."""
    src = TensorSource(state_dict, "T5")
    d, n, h, f = config.embed_dim, config.num_heads, config.head_dim, config.mlp_dim

    def attention(prefix):
        qkv = {
            ours: src.take(f"{prefix}.{theirs}.weight", (n * h, d)).T.reshape(d, n, h)
            for ours, theirs in (("query", "q"), ("key", "k"), ("value", "v"))
        }
        out = src.take(f"{prefix}.o.weight", (d, n * h)).T.reshape(n, h, d)
        return {name: {"kernel": kernel} for name, kernel in {**qkv, "out": out}.items()}

    def stack(name, num_layers, decoder):
        tree = {
            "rel_bias": {
                "rel_embedding": src.take(
                    f"{name}.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                    (config.relative_buckets, n),
                )
            },
            "ln_f": {"scale": src.take(f"{name}.final_layer_norm.weight", (d,))},
        }
        for i in range(num_layers):
            block = {}
            for ours, theirs in _layer_names(config, decoder):
                prefix = f"{name}.block.{i}.{theirs}"
                if ours.startswith("ln"):
                    block[ours] = {"scale": src.take(f"{prefix}.weight", (d,))}
                elif ours == "mlp":
                    mlp = {k: {"kernel": src.take(f"{prefix}.{k}.weight", (f, d)).T} for k in
                           _mlp_kernels(config)}  # fmt: skip
                    mlp["wo"] = {"kernel": src.take(f"{prefix}.wo.weight", (d, f)).T}
                    block[ours] = mlp
                else:
                    block[ours] = attention(prefix)
            tree[f"block_{i}"] = block
        return tree

    shared = src.take("shared.weight", (config.vocab_size, d))
    params = {
        "embed": {"embedding": shared},
        "encoder": stack("encoder", config.num_encoder_layers, decoder=False),
        "decoder": stack("decoder", config.num_decoder_layers, decoder=True),
    }
    head = src.take("lm_head.weight", (config.vocab_size, d)) if "lm_head.weight" in src else None
    if config.tie_embeddings:
        if head is not None and not np.array_equal(head, shared):
            raise ValueError(
                "The T5 checkpoint's lm_head.weight differs from shared.weight, but its config "
                "rescales the decoder output (a tied v1.0 head); our model has no untied head "
                "with the rescale: set tie_word_embeddings=false in the config if it is v1.1."
            )
    else:
        params["lm_head"] = {"kernel": np.ascontiguousarray((shared if head is None else head).T)}
    src.finish(ignore=IGNORED_TENSORS)
    return params


def to_state_dict(params, config: t5.Config) -> dict[str, np.ndarray]:
    """HF tensor name -> float32 numpy array for `T5ForConditionalGeneration.from_pretrained`;
    `params` boxed (as `init` returns them) or not.

    v1.0 writes no lm_head.weight (HF ties it to shared.weight); v1.1 writes its own.
    """
    params = strip_boxes(params)
    d, n, h = config.embed_dim, config.num_heads, config.head_dim
    as_np = lambda x: np.ascontiguousarray(np.asarray(x, np.float32))
    out = {"shared.weight": as_np(params["embed"]["embedding"])}
    for name, num_layers, decoder in (
        ("encoder", config.num_encoder_layers, False),
        ("decoder", config.num_decoder_layers, True),
    ):
        tree = params[name]
        out[f"{name}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = as_np(
            tree["rel_bias"]["rel_embedding"]
        )
        out[f"{name}.final_layer_norm.weight"] = as_np(tree["ln_f"]["scale"])
        for i in range(num_layers):
            block = tree[f"block_{i}"]
            for ours, theirs in _layer_names(config, decoder):
                prefix = f"{name}.block.{i}.{theirs}"
                if ours.startswith("ln"):
                    out[f"{prefix}.weight"] = as_np(block[ours]["scale"])
                elif ours == "mlp":
                    for k in (*_mlp_kernels(config), "wo"):
                        out[f"{prefix}.{k}.weight"] = as_np(np.asarray(block[ours][k]["kernel"]).T)
                else:
                    attn = block[ours]
                    for mine, hf in (("query", "q"), ("key", "k"), ("value", "v")):
                        kernel = np.asarray(attn[mine]["kernel"]).reshape(d, n * h)
                        out[f"{prefix}.{hf}.weight"] = as_np(kernel.T)
                    kernel = np.asarray(attn["out"]["kernel"]).reshape(n * h, d)
                    out[f"{prefix}.o.weight"] = as_np(kernel.T)
    if not config.tie_embeddings:
        out["lm_head.weight"] = as_np(np.asarray(params["lm_head"]["kernel"]).T)
    return out


def from_hf(hf_config: dict, state_dict, **overrides) -> tuple[t5.Model, dict]:
    """(our model, params) from a HF config dict and a `T5ForConditionalGeneration` state dict."""
    config = config_from_hf(hf_config, **overrides)
    return t5.Model(config), from_state_dict(state_dict, config)


def load(path, **overrides) -> tuple[t5.Model, dict]:
    """(our Model, its params) from a local Hugging Face T5 folder (config.json + weights);
    `overrides` are `Config` fields (e.g. dtype='bfloat16')."""
    hf_config, tensors = read_folder(path)
    return from_hf(hf_config, tensors, **overrides)


def save(path, config: t5.Config, params):
    """Writes a new folder `path` that `transformers.T5ForConditionalGeneration.from_pretrained`
    loads; an existing `path` is refused (`hf_checkpoint.write_folder`). Returns the folder's path."""
    return write_folder(path, config_to_hf(config), to_state_dict(params, config))
