"""Tests for research/models/convert/hf_folder.py and the converters' shared interface.

Reference-free (no torch): every Hugging Face converter exports `load(path, **overrides)` and
`save(path, config, params)` with the same parameters; `hf_folder.save` then `hf_folder.load`
gives back each family's model and parameters exactly (GPT-2's vocabulary padding aside, which
the export drops and the import restores as zeros); a missing, unreadable or unknown config.json is
one sentence naming the file.
"""

import inspect
import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from research.models import bert, t5, transformer_lm
from research.models.convert import hf_bert, hf_folder, hf_gpt2, hf_t5

CONVERTERS = (hf_gpt2, hf_bert, hf_t5)
SMALL = {
    "gpt2": (transformer_lm, dict(vocab_size=64, max_len=8, num_layers=1, embed_dim=16,
                                  num_heads=2, mlp_dim=32), (jnp.zeros((1, 4), jnp.int32),)),
    "bert": (bert, dict(vocab_size=40, max_len=8, num_layers=1, embed_dim=16, num_heads=2,
                        mlp_dim=32, pooler=False), (jnp.zeros((1, 4), jnp.int32),)),
    "t5": (t5, dict(vocab_size=40, embed_dim=16, num_heads=2, head_dim=8, mlp_dim=32,
                    num_encoder_layers=1, num_decoder_layers=1),
           (jnp.ones((1, 4), jnp.int32), jnp.ones((1, 3), jnp.int32))),
}  # fmt: skip


@pytest.mark.parametrize("converter", CONVERTERS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_converter_has_the_same_load_and_save(converter):
    load = list(inspect.signature(converter.load).parameters.values())
    assert [p.name for p in load] == ["path", "overrides"] and load[1].kind == load[1].VAR_KEYWORD
    save = [p.name for p in inspect.signature(converter.save).parameters.values()]
    assert save[:3] == ["path", "config", "params"]
    for name in ("config_from_hf", "config_to_hf", "from_state_dict", "to_state_dict"):
        assert callable(getattr(converter, name)), name


@pytest.mark.parametrize("model_type", sorted(SMALL))
def test_save_then_load_by_model_type_gives_back_the_parameters(tmp_path, model_type):
    module, sizes, inputs = SMALL[model_type]
    model = module.make(**sizes)
    # Random values of the init's shapes (nothing compiles); boxed, as `init` returns them.
    shapes = jax.eval_shape(model.init, jax.random.key(0), *inputs)["params"]
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda s: rng.normal(size=s.shape).astype(np.float32), shapes)
    folder = hf_folder.save(tmp_path / model_type, model.config, params)
    assert hf_folder.model_type(folder) == model_type
    back_model, back = hf_folder.load(folder, dtype="bfloat16")
    assert type(back_model) is module.Model and back_model.config.dtype == "bfloat16"
    ours = traverse_util.flatten_dict(nn.unbox(params), sep="/")
    theirs = traverse_util.flatten_dict(back, sep="/")
    assert sorted(ours) == sorted(theirs)
    for path, value in ours.items():
        value = np.asarray(value)
        if model_type == "gpt2" and path == "embed/embedding":  # padding rows: dropped, then zeros
            value[model.config.vocab_size :] = 0
        np.testing.assert_array_equal(theirs[path], value, err_msg=path)


def test_a_folder_without_a_usable_config_json_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"config\.json' does not exist; give a Hugging Face"):
        hf_folder.load(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json' is not valid JSON at line 1 column 2"):
        hf_folder.load(tmp_path)
    with pytest.raises(ValueError, match=r"config\.json' is not valid JSON at line 1 column 2"):
        hf_gpt2.load(tmp_path)  # the converters read it through the same check
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(
        ValueError, match=r"has model_type='llama'; the converters read bert, gpt2, t5"
    ):
        hf_folder.load(tmp_path)
    (tmp_path / "config.json").write_text("[]")
    with pytest.raises(ValueError, match=r"config\.json' holds a JSON list, not an object"):
        hf_folder.load(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match=r"has model_type=None"):
        hf_folder.load(tmp_path)


def test_save_refuses_a_config_without_a_converter(tmp_path):
    from research.models import rnn_lm

    with pytest.raises(
        ValueError, match=r"No Hugging Face converter for a research\.models\.rnn_lm"
    ):
        hf_folder.save(tmp_path / "x", rnn_lm.Config(), {})
