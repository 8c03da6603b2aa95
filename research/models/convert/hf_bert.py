"""Hugging Face BERT checkpoints <-> `research.models.bert`, both directions, offline.

Import (`load`, `from_hf`): a local folder (`hf_checkpoint.read_folder`) or a config dict and
a state dict of `BertForMaskedLM`, `BertModel` or `BertForSequenceClassification`; the heads come
from the tensors present (MLM head: `cls.predictions.*`; pooler: `pooler.dense.*`; classifier:
`classifier.*`). Export (`save`, `to_hf`): a folder that
`transformers.BertForMaskedLM.from_pretrained(folder)` (or the class the heads make) loads.

Parameter mapping (torch Linear weights are [out, in], so kernels are transposed and reshaped):
  embeddings.{word,position,token_type}_embeddings.weight -> {embed,pos_embed,type_embed}/embedding
  embeddings.LayerNorm.{weight,bias} -> embed_ln/{scale,bias}
  encoder.layer.{i}.attention.self.{query,key,value} [N*H, D] -> block_{i}/attn/{...} [D,N,H]
  encoder.layer.{i}.attention.output.dense [D, N*H] -> block_{i}/attn/out [N,H,D]
  encoder.layer.{i}.attention.output.LayerNorm -> block_{i}/ln1
  encoder.layer.{i}.intermediate.dense / output.dense -> block_{i}/mlp/wi / wo
  encoder.layer.{i}.output.LayerNorm -> block_{i}/ln2
  pooler.dense -> pooler; classifier -> classifier
  cls.predictions.transform.dense / LayerNorm -> mlm/transform / mlm/ln; cls.predictions.bias ->
  mlm/bias; cls.predictions.decoder.{weight,bias}: tied to the word embedding and cls.predictions.bias
  (ignored on import, not written on export).

Configs we cannot represent are refused naming the field: another `hidden_act` than exact 'gelu',
`position_embedding_type` other than 'absolute', a decoder (`is_decoder`, `add_cross_attention`),
untied output embeddings, a classifier dropout that differs from the hidden dropout.
"""

import flax.linen as nn
import numpy as np

from research.models import bert
from research.models.convert import hf_checkpoint

MLM_PREFIX = "cls.predictions."
# HF fields -> ours, for the fields that map one to one.
_FIELDS = {
    "vocab_size": "vocab_size",
    "max_position_embeddings": "max_len",
    "type_vocab_size": "type_vocab_size",
    "num_hidden_layers": "num_layers",
    "hidden_size": "embed_dim",
    "num_attention_heads": "num_heads",
    "intermediate_size": "mlp_dim",
    "hidden_dropout_prob": "dropout_rate",
    "attention_probs_dropout_prob": "attention_dropout_rate",
    "layer_norm_eps": "norm_epsilon",
}
# Fields that must hold one of these values (None: absent is fine too).
_REQUIRED = {
    "hidden_act": ("gelu",),
    "position_embedding_type": (None, "absolute"),
    "is_decoder": (None, False),
    "add_cross_attention": (None, False),
    "tie_word_embeddings": (None, True),
}


def _refuse(field: str, value, allowed) -> None:
    raise ValueError(
        f"The Hugging Face BERT config has {field}={value!r}, which research.models.bert cannot "
        f"represent (it supports {field} in {list(allowed)}); convert a checkpoint without it."
    )


def config_from_hf(
    hf_config: dict, *, mlm_head: bool, pooler: bool, num_classes: int = 0, **overrides
) -> bert.Config:
    """Our `Config` from a Hugging Face BERT config dict, refusing fields we cannot represent;
    `overrides` set fields Hugging Face does not have (dtype, param_dtype, attention_impl)."""
    if hf_config.get("model_type", "bert") != "bert":
        _refuse("model_type", hf_config["model_type"], ["bert"])
    for field, allowed in _REQUIRED.items():
        if hf_config.get(field) not in allowed:
            _refuse(field, hf_config.get(field), [a for a in allowed if a is not None])
    dropout = hf_config.get("classifier_dropout")
    if dropout is not None and dropout != hf_config.get("hidden_dropout_prob"):
        _refuse("classifier_dropout", dropout, [None, hf_config.get("hidden_dropout_prob")])
    missing = sorted(set(_FIELDS) - set(hf_config))
    if missing:
        raise ValueError(f"The Hugging Face BERT config lacks the field(s) {missing}.")
    values = {ours: hf_config[theirs] for theirs, ours in _FIELDS.items()}
    heads = dict(mlm_head=mlm_head, pooler=pooler, num_classes=num_classes)
    return bert.make(**{**values, **heads, **overrides}).config


def _strip(state_dict) -> dict:
    """Names without the `bert.` prefix of the task models (BertModel has none)."""
    return {name.removeprefix("bert."): value for name, value in state_dict.items()}


def from_state_dict(state_dict, config: bert.Config) -> dict:
    """Our parameters (nested dict of float32 numpy arrays) from a BERT state dict.

    Values may be torch tensors or numpy arrays. Missing, misshapen and unexpected tensors are
    refused by name (`hf_checkpoint.TensorSource`).
    """
    source = hf_checkpoint.TensorSource(_strip(state_dict), "BERT")
    d, n, h, f, v = (config.embed_dim, config.num_heads, config.head_dim, config.mlp_dim,
                     config.vocab_size)  # fmt: skip

    def linear(name, out_shape, in_dim):
        """torch Linear [out, in] -> kernel [in, *out_shape], bias [*out_shape]."""
        size = int(np.prod(out_shape))
        kernel = source.take(f"{name}.weight", (size, in_dim)).T.reshape(in_dim, *out_shape)
        return {"kernel": kernel, "bias": source.take(f"{name}.bias", (size,)).reshape(out_shape)}

    def layer_norm(name, width=d):
        return {
            "scale": source.take(f"{name}.weight", (width,)),
            "bias": source.take(f"{name}.bias", (width,)),
        }

    e = "embeddings"
    params = {
        "embed": {"embedding": source.take(f"{e}.word_embeddings.weight", (v, d))},
        "pos_embed": {"embedding": source.take(f"{e}.position_embeddings.weight",
                                               (config.max_len, d))},
        "type_embed": {"embedding": source.take(f"{e}.token_type_embeddings.weight",
                                                (config.type_vocab_size, d))},
        "embed_ln": layer_norm(f"{e}.LayerNorm"),
    }  # fmt: skip
    for i in range(config.num_layers):
        p = f"encoder.layer.{i}"
        attn = {
            name: linear(f"{p}.attention.self.{name}", (n, h), d)
            for name in ("query", "key", "value")
        }
        out = source.take(f"{p}.attention.output.dense.weight", (d, n * h))  # [D, N*H]
        attn["out"] = {
            "kernel": out.T.reshape(n, h, d),
            "bias": source.take(f"{p}.attention.output.dense.bias", (d,)),
        }
        params[f"block_{i}"] = {
            "attn": attn,
            "ln1": layer_norm(f"{p}.attention.output.LayerNorm"),
            "mlp": {
                "wi": linear(f"{p}.intermediate.dense", (f,), d),
                "wo": linear(f"{p}.output.dense", (d,), f),
            },
            "ln2": layer_norm(f"{p}.output.LayerNorm"),
        }
    ignore = ()
    if config.mlm_head:
        params["mlm"] = {
            "transform": linear(f"{MLM_PREFIX}transform.dense", (d,), d),
            "ln": layer_norm(f"{MLM_PREFIX}transform.LayerNorm"),
            "bias": source.take(f"{MLM_PREFIX}bias", (v,)),
        }
        ignore = (f"{MLM_PREFIX}decoder.weight", f"{MLM_PREFIX}decoder.bias")  # tied copies
    if config.pooler:
        params["pooler"] = linear("pooler.dense", (d,), d)
    if config.num_classes:
        params["classifier"] = linear("classifier", (config.num_classes,), d)
    source.finish(ignore=ignore)
    return params


def from_hf(hf_config: dict, state_dict, **overrides) -> tuple[bert.Model, dict]:
    """(model, params) from a Hugging Face BERT config dict and state dict; heads from the tensors,
    `overrides` are `Config` fields (e.g. dtype='bfloat16')."""
    tensors = _strip(state_dict)
    names = set(tensors)
    num_classes = int(tensors["classifier.weight"].shape[0]) if "classifier.weight" in names else 0
    config = config_from_hf(
        hf_config,
        mlm_head=f"{MLM_PREFIX}transform.dense.weight" in names,
        pooler="pooler.dense.weight" in names,
        num_classes=num_classes,
        **overrides,
    )
    return bert.Model(config), from_state_dict(state_dict, config)


def load(path, **overrides) -> tuple[bert.Model, dict]:
    """(our Model, its params) from a local Hugging Face BERT folder (config.json + weights);
    `overrides` are `Config` fields (e.g. dtype='bfloat16'). The heads come from the tensors."""
    hf_config, tensors = hf_checkpoint.read_folder(path)
    return from_hf(hf_config, tensors, **overrides)


def _architecture(config: bert.Config) -> str:
    if config.num_classes:
        if config.mlm_head:
            raise ValueError(
                "A model with both the MLM head and a classifier has no Hugging Face class; "
                "export it with mlm_head=False (drop params['mlm']) or num_classes=0."
            )
        return "BertForSequenceClassification"
    if config.mlm_head:
        if config.pooler:  # BertForMaskedLM has no pooler: the pooler would be dropped silently
            raise ValueError(
                "BertForMaskedLM has no pooler; export with pooler=False (drop params['pooler']) "
                "or mlm_head=False (BertModel)."
            )
        return "BertForMaskedLM"
    return "BertModel"


def config_to_hf(config: bert.Config) -> dict:
    """A Hugging Face BERT config dict for `config`."""
    hf = {theirs: getattr(config, ours) for theirs, ours in _FIELDS.items()}
    hf.update(
        model_type="bert",
        architectures=[_architecture(config)],
        hidden_act="gelu",
        position_embedding_type="absolute",
        initializer_range=0.02,
        pad_token_id=0,
        tie_word_embeddings=True,
        classifier_dropout=None,
    )
    if config.num_classes:
        hf["id2label"] = {str(i): f"LABEL_{i}" for i in range(config.num_classes)}
        hf["label2id"] = {f"LABEL_{i}": i for i in range(config.num_classes)}
    return hf


def to_state_dict(params, config: bert.Config) -> dict[str, np.ndarray]:
    """Hugging Face tensor names -> float32 numpy arrays (the inverse of `from_state_dict`)."""
    params = nn.unbox(params)
    d, n, h = config.embed_dim, config.num_heads, config.head_dim
    prefix = "" if _architecture(config) == "BertModel" else "bert."
    out = {}

    def put(name, value):
        out[name] = np.ascontiguousarray(np.asarray(value, np.float32))

    def linear(name, p, in_dim):
        put(f"{name}.weight", np.asarray(p["kernel"]).reshape(in_dim, -1).T)
        put(f"{name}.bias", np.asarray(p["bias"]).reshape(-1))

    def layer_norm(name, p):
        put(f"{name}.weight", p["scale"])
        put(f"{name}.bias", p["bias"])

    e = f"{prefix}embeddings"
    put(f"{e}.word_embeddings.weight", params["embed"]["embedding"])
    put(f"{e}.position_embeddings.weight", params["pos_embed"]["embedding"])
    put(f"{e}.token_type_embeddings.weight", params["type_embed"]["embedding"])
    layer_norm(f"{e}.LayerNorm", params["embed_ln"])
    for i in range(config.num_layers):
        p, block = f"{prefix}encoder.layer.{i}", params[f"block_{i}"]
        for name in ("query", "key", "value"):
            linear(f"{p}.attention.self.{name}", block["attn"][name], d)
        linear(f"{p}.attention.output.dense", block["attn"]["out"], n * h)
        layer_norm(f"{p}.attention.output.LayerNorm", block["ln1"])
        linear(f"{p}.intermediate.dense", block["mlp"]["wi"], d)
        linear(f"{p}.output.dense", block["mlp"]["wo"], config.mlp_dim)
        layer_norm(f"{p}.output.LayerNorm", block["ln2"])
    if config.mlm_head:
        linear(f"{MLM_PREFIX}transform.dense", params["mlm"]["transform"], d)
        layer_norm(f"{MLM_PREFIX}transform.LayerNorm", params["mlm"]["ln"])
        put(f"{MLM_PREFIX}bias", params["mlm"]["bias"])
    if config.pooler:
        linear(f"{prefix}pooler.dense", params["pooler"], d)
    if config.num_classes:
        linear("classifier", params["classifier"], d)
    return out


def to_hf(params, config: bert.Config) -> tuple[dict, dict[str, np.ndarray]]:
    """(Hugging Face config dict, state dict) for our `params`."""
    return config_to_hf(config), to_state_dict(params, config)


def save(path, config: bert.Config, params):
    """Writes a new folder `path` (config.json + model.safetensors) that
    `transformers.BertForMaskedLM.from_pretrained(path)` (or the class of the heads) loads; an
    existing `path` is refused (`hf_checkpoint.write_folder`). Returns the folder's path."""
    hf_config, tensors = to_hf(params, config)
    return hf_checkpoint.write_folder(path, hf_config, tensors)
