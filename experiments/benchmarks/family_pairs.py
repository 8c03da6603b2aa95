"""The family benchmark's model pairs: ours and the Hugging Face PyTorch model, from the same weights.

  pair = PAIRS["bert"](Shape("tiny", {}, batch=8, seq_len=128), "float32", transformers, rng)
  loss_fn, batch = pair.make_jax(attention_impl)    # for research.train.step.make_train_step
  torch_loss(pair.hf_model, torch batch of pair.torch_batch)

Each builder makes our model (`research.models.transformer_lm` / `bert` / `t5`) at the shape's
preset, initializes it, exports the weights through our converters (`research.models.convert`)
into `GPT2LMHeadModel` / `BertForMaskedLM` / `T5ForConditionalGeneration` (SDPA attention), and
draws one random batch: next-token targets for GPT-2, a masked-LM target at every position for
BERT (the head runs at every position on both sides), teacher-forced targets of a quarter of the
input length for T5. Dropout is off, so both sides' losses on the first batch agree
(tests/experiments/benchmarks/family_pairs_test.py). `experiments/benchmarks/family.py` times them.
"""

import dataclasses
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.nn.functional as F

from research.models import bert, t5, transformer_lm
from research.models.convert import hf_bert, hf_gpt2, hf_t5
from research.train.losses import softmax_cross_entropy


@dataclasses.dataclass(frozen=True)
class Shape:
    """One model's benchmark: its preset, the batch, and the sequence length (T5: inputs)."""

    variant: str | None
    overrides: dict
    batch: int
    seq_len: int


@dataclasses.dataclass
class Bench:
    """One model, both sides: what the JAX and PyTorch steps need."""

    name: str
    hf_name: str
    num_params: int
    tokens_per_step: int
    make_jax: Callable  # attention_impl -> (loss_fn for research.train.step, batch of jnp arrays)
    params: dict  # our initial params (numpy, unboxed)
    hf_model: torch.nn.Module  # on the CPU, holding the same weights
    torch_batch: dict  # numpy arrays


def _init(model, *inputs, **kwargs):
    init = jax.jit(lambda rng: nn.meta.unbox(model.init(rng, *inputs, **kwargs)))
    return jax.device_get(init(jax.random.key(0))["params"])


def _load(hf_model, state_dict, tied: tuple[str, ...]):
    """Copies our exported tensors into the HF model; only tied weights may be left out."""
    tensors = {name: torch.from_numpy(np.array(v)) for name, v in state_dict.items()}
    missing, unexpected = hf_model.load_state_dict(tensors, strict=False)
    if unexpected or set(missing) - set(tied):
        raise RuntimeError(f"weights did not transfer: missing {missing}, unexpected {unexpected}")
    hf_model.tie_weights()
    return hf_model


def torch_loss(model, batch):
    """The HF model's mean cross-entropy against batch['targets'] (T5: teacher forced)."""
    kwargs = {"decoder_input_ids": batch["decoder_inputs"]} if "decoder_inputs" in batch else {}
    logits = model(input_ids=batch["inputs"], **kwargs).logits
    return F.cross_entropy(logits.float().flatten(0, 1), batch["targets"].flatten())


def _lm_loss(logits, targets):
    total, count = softmax_cross_entropy(logits, targets)
    return total / count, {"loss": (total, count)}


def gpt2_pair(shape: Shape, dtype: str, transformers, rng) -> Bench:
    config = transformer_lm.make(shape.variant, **shape.overrides, dtype=dtype).config
    tokens = rng.integers(0, config.vocab_size, (shape.batch, shape.seq_len + 1), dtype=np.int32)
    params = _init(transformer_lm.Model(config), jnp.zeros((1, shape.seq_len), jnp.int32))

    def make_jax(impl):
        model = transformer_lm.Model(dataclasses.replace(config, attention_impl=impl))

        def loss_fn(p, model_state, batch, rng, train):
            logits = model.apply({"params": p}, batch["inputs"], train=train)
            return (*_lm_loss(logits, batch["targets"]), model_state)

        return loss_fn, {"inputs": tokens[:, :-1], "targets": tokens[:, 1:]}

    hf_config = transformers.GPT2Config(**hf_gpt2.config_to_hf(config), attn_implementation="sdpa")
    hf = _load(
        transformers.GPT2LMHeadModel(hf_config),
        hf_gpt2.to_state_dict(params, config),
        tied=("lm_head.weight",),
    )

    return Bench(
        "GPT-2", "GPT2LMHeadModel", transformer_lm.num_params(config), shape.batch * shape.seq_len,
        make_jax, params, hf, {"inputs": tokens[:, :-1], "targets": tokens[:, 1:]},
    )  # fmt: skip


def bert_pair(shape: Shape, dtype: str, transformers, rng) -> Bench:
    config = bert.make(
        shape.variant, **shape.overrides, pooler=False, dropout_rate=0.0,
        attention_dropout_rate=0.0, dtype=dtype,
    ).config  # fmt: skip
    size = (shape.batch, shape.seq_len)
    batch = {
        "inputs": rng.integers(0, config.vocab_size, size, dtype=np.int32),
        "targets": rng.integers(0, config.vocab_size, size, dtype=np.int32),
    }
    params = _init(bert.Model(config), jnp.zeros((1, shape.seq_len), jnp.int32))

    def make_jax(impl):
        model = bert.Model(dataclasses.replace(config, attention_impl=impl))

        def loss_fn(p, model_state, batch, rng, train):
            logits = model.apply({"params": p}, batch["inputs"], train=train)["mlm_logits"]
            return (*_lm_loss(logits, batch["targets"]), model_state)

        return loss_fn, batch

    hf_dict, state_dict = hf_bert.to_hf(params, config)
    hf_config = transformers.BertConfig(**hf_dict, attn_implementation="sdpa")
    hf = _load(
        transformers.BertForMaskedLM(hf_config),
        state_dict,
        tied=("cls.predictions.decoder.weight", "cls.predictions.decoder.bias"),
    )

    return Bench(
        "BERT", "BertForMaskedLM", bert.num_params(config), shape.batch * shape.seq_len,
        make_jax, params, hf, batch,
    )  # fmt: skip


def t5_pair(shape: Shape, dtype: str, transformers, rng) -> Bench:
    config = t5.make(shape.variant, **shape.overrides, dropout_rate=0.0, dtype=dtype).config
    target_len = max(1, shape.seq_len // 4)
    # Ids from 2 up: no padding (0) and no EOS (1), so every position is real on both sides.
    inputs = rng.integers(2, config.vocab_size, (shape.batch, shape.seq_len), dtype=np.int32)
    targets = rng.integers(2, config.vocab_size, (shape.batch, target_len), dtype=np.int32)
    decoder_inputs = np.asarray(t5.shift_right(targets, config.pad_id))
    batch = {"inputs": inputs, "decoder_inputs": decoder_inputs, "targets": targets}
    params = _init(
        t5.Model(config),
        jnp.ones((1, shape.seq_len), jnp.int32),
        jnp.ones((1, target_len), jnp.int32),
    )

    def make_jax(impl):
        model = t5.Model(dataclasses.replace(config, attention_impl=impl))

        def loss_fn(p, model_state, batch, rng, train):
            logits = model.apply(
                {"params": p}, batch["inputs"], batch["decoder_inputs"], train=train
            )
            return (*_lm_loss(logits, batch["targets"]), model_state)

        return loss_fn, batch

    hf_config = transformers.T5Config(**hf_t5.config_to_hf(config), attn_implementation="sdpa")
    tied = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight")
    hf = _load(
        transformers.T5ForConditionalGeneration(hf_config),
        hf_t5.to_state_dict(params, config),
        tied=tied if config.tie_embeddings else tied[:2],
    )

    return Bench(
        "T5", "T5ForConditionalGeneration", t5.num_params(config),
        shape.batch * (shape.seq_len + target_len), make_jax, params, hf, batch,
    )  # fmt: skip


PAIRS = {"gpt2": gpt2_pair, "bert": bert_pair, "t5": t5_pair}
