"""The model contract, checked once for every model file that `research.models.available()` lists.

For each model: `make` refuses an unknown variant and an unknown field with the shared sentences
(`research/models/contract.py`); `make()` is the Config defaults; every variant builds (shapes
only, `jax.eval_shape`); parameter path -> logical axes matches the golden files in
tests/research/models/golden/ (a change there changes sharding); and, for every model with
parameters worth casting, `dtype='bfloat16'` computes in bfloat16 while the parameters stay
float32 (and `param_dtype='bfloat16'` stores them in bfloat16).

Regenerate the golden files after an intended parameter or sharding change with
  REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/research/models/contract_test.py
and review their diff. A fork under research/models/proj/ gets the refusal checks; the checks that
need example inputs look its inputs up by the file it was copied from (the module's last name).
"""

import dataclasses
import functools
import json
import os
import pathlib
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from research import models

GOLDEN = pathlib.Path(__file__).parent / "golden"


def _ids(*shape):
    return jnp.zeros(shape, jnp.int32)


def _images(cfg):
    return jnp.zeros((1, cfg.image_size, cfg.image_size, cfg.channels), jnp.float32)


def _word2vec(cfg):
    if cfg.architecture == "cbow":
        return _ids(1, 3), _ids(1), _ids(1, 2), jnp.ones((1, 3))
    return _ids(1), _ids(1), _ids(1, 2)


def _fasttext(cfg):
    if cfg.architecture == "cbow":
        return _ids(1, 2), _ids(1, 2, 3), jnp.ones((1, 2, 3)), _ids(1), _ids(1, 2), jnp.ones((1, 2))
    return _ids(1), _ids(1, 3), jnp.ones((1, 3)), _ids(1), _ids(1, 2)


class Spec(NamedTuple):
    inputs: object  # Config -> the positional arguments of Model.__call__ (batch 1)
    small: tuple[str | None, dict]  # (variant, overrides): a model that compiles in seconds
    golden: tuple = ()  # (golden file stem, variant, overrides) per golden file
    dtype: bool = True  # False: no dtype / param_dtype (the embedding tables are the product)
    float32_params: tuple = ()  # parameter paths that stay float32 whatever param_dtype says
    shrink: tuple = ()  # (field, value) overrides that make every variant tiny (fewer layers)


SPECS = {
    "transformer_lm": Spec(
        lambda cfg: (_ids(1, 8),),
        ("tiny", dict(num_layers=1, embed_dim=32, num_heads=2, mlp_dim=64, max_len=16)),
        (("transformer_lm_tiny", "tiny", {}),),
        shrink=(("num_layers", 1),),
    ),
    "rnn_lm": Spec(
        lambda cfg: (_ids(1, 8),),
        ("tiny", dict(num_layers=1, embed_dim=16, hidden_dim=32)),
        (
            ("rnn_lm_tiny", "tiny", {}),
            ("rnn_lm_tiny_projected", "tiny", {"hidden_dim": 512}),  # tied through proj [H,D]
            ("rnn_lm_zaremba_small", "zaremba_small", {}),  # untied out [H,V] + bias
        ),
    ),
    "bert": Spec(
        lambda cfg: (_ids(1, 8),),
        ("tiny", dict(vocab_size=50, num_layers=1, embed_dim=32, mlp_dim=64, num_classes=2)),
        (("bert_tiny", "tiny", {"num_classes": 2}),),
        shrink=(("num_layers", 1),),
    ),
    "t5": Spec(
        lambda cfg: (jnp.ones((1, 8), jnp.int32), jnp.ones((1, 4), jnp.int32)),
        ("tiny", dict(vocab_size=40, embed_dim=16, num_heads=2, head_dim=8, mlp_dim=32)),
        (("t5_tiny", "tiny", {}),),
        # research.nn.positional.RelativePositionBias has no param_dtype (a [buckets, N] table).
        float32_params=("encoder/rel_bias/rel_embedding", "decoder/rel_bias/rel_embedding"),
        shrink=(("num_encoder_layers", 1), ("num_decoder_layers", 1)),
    ),
    "seq2seq": Spec(
        lambda cfg: (_ids(1, 6), jnp.array([4], jnp.int32), _ids(1, 7)),
        ("tiny", {}),
        (("seq2seq_digits", "digits", {}),),
    ),
    "autoencoder": Spec(
        lambda cfg: (_images(cfg),),
        ("classic", dict(hidden_dim=16)),
        (("autoencoder_classic", "classic", {}), ("autoencoder_conv", "conv", {})),
    ),
    "vae": Spec(
        lambda cfg: (_images(cfg),),
        ("digits", dict(hidden_dim=16)),
        (("vae_digits", "digits", {}),),
    ),
    "sequence_autoencoder": Spec(
        lambda cfg: (jnp.zeros((1, 32, 1), jnp.float32),),
        ("tiny", {}),
        (
            ("sequence_autoencoder_conv", "conv", {}),
            ("sequence_autoencoder_lstm", "lstm", {}),
        ),
    ),
    "mlp_classifier": Spec(
        lambda cfg: (jnp.zeros((1, 64), jnp.float32),),
        ("small", {}),
        (("mlp_classifier_digits", "digits", {}),),
    ),
    "word2vec": Spec(_word2vec, ("tiny", {}), (("word2vec_tiny", "tiny", {}),), dtype=False),
    "fasttext": Spec(_fasttext, ("tiny", {}), (("fasttext_tiny", "tiny", {}),), dtype=False),
    "glove": Spec(
        lambda cfg: (_ids(1), _ids(1)), ("tiny", {}), (("glove_small", "small", {}),), dtype=False
    ),
}

NAMES = models.available()
# Layers whose output is an activation computed in the model's `dtype`.
COMPUTING_LAYERS = ("EinsumDense", "Embed", "Conv", "ConvTranspose", "Conv1D")


def _spec(name: str) -> Spec:
    spec = SPECS.get(name.rsplit(".", 1)[-1])
    if spec is None:
        pytest.skip(f"{name} has no example inputs in contract_test.SPECS")
    return spec


def _init_shapes(model, spec: Spec):
    args = spec.inputs(model.config)
    return jax.eval_shape(lambda: model.init({"params": jax.random.key(0)}, *args))


@functools.cache
def _variant_shapes(name: str, variant: str, overrides: tuple = ()):
    """`_init_shapes` of make(variant, **overrides), traced once for the build and golden tests."""
    return _init_shapes(models.load(name).make(variant, **dict(overrides)), _spec(name))


def _axes(shapes) -> dict:
    flat = traverse_util.flatten_dict(nn.get_partition_spec(shapes)["params"], sep="/")
    return {path: list(spec) for path, spec in sorted(flat.items())}


def test_every_model_file_here_has_a_spec():
    """A new model file needs its example inputs and golden axes here (forks under proj/ do not)."""
    ours = [name for name in NAMES if not name.startswith("proj.")]
    assert sorted(SPECS) == ours


@pytest.mark.parametrize("name", NAMES)
def test_make_defaults_and_refusals(name):
    module = models.load(name)
    assert module.make().config == module.Config()
    with pytest.raises(
        ValueError,
        match=r"^Unknown [\w.]+ variant 'no_such_variant'; choose one of \[.*\] or None\.$",
    ):
        module.make("no_such_variant")
    fields = sorted(f.name for f in dataclasses.fields(module.Config))
    with pytest.raises(
        ValueError, match=r"^Unknown [\w.]+ Config field\(s\) \['no_such_field'\]; "
    ) as e:
        module.make(no_such_field=1)
    assert str(e.value).endswith(f"valid fields are {fields}.")
    for variant, values in module.VARIANTS.items():
        assert module.make(variant).config == module.Config(**values)


@pytest.mark.parametrize(
    "name, variant",
    [(name, variant) for name in NAMES for variant in models.load(name).VARIANTS],
)
def test_every_variant_builds(name, variant):
    """Every preset, at tiny size: its own fields with the depth overridden to one layer (`shrink`),
    shapes only (`jax.eval_shape`: GPT-2 small's or BERT-base's widths allocate nothing)."""
    assert jax.tree.leaves(_variant_shapes(name, variant, _spec(name).shrink)["params"])


@pytest.mark.parametrize(
    "name, stem, variant, overrides",
    [(name, *golden) for name, spec in SPECS.items() for golden in spec.golden],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_golden_logical_axes(name, stem, variant, overrides):
    """Catches a renamed parameter or a changed sharding annotation."""
    axes = _axes(_variant_shapes(name, variant, tuple(sorted(overrides.items()))))
    path = GOLDEN / f"{stem}_axes.json"
    if os.environ.get("REGENERATE_GOLDEN"):
        path.write_text(json.dumps(axes, indent=2) + "\n")
    assert axes == json.loads(path.read_text())


@pytest.mark.parametrize("name", NAMES)
def test_bfloat16_compute_keeps_float32_params(name):
    """dtype='bfloat16': every dense, convolution and embedding layer outputs bfloat16 while the
    parameters stay float32; param_dtype='bfloat16' stores them in bfloat16. Dtypes are static,
    so shapes suffice (`jax.eval_shape`: nothing compiles)."""
    spec = _spec(name)
    module = models.load(name)
    fields = {f.name for f in dataclasses.fields(module.Config)}
    if not spec.dtype:
        assert not {"dtype", "param_dtype"} & fields
        return
    assert {"dtype", "param_dtype"} <= fields
    variant, overrides = spec.small
    model = module.make(variant, **overrides, dtype="bfloat16")
    args = spec.inputs(model.config)
    variables = _init_shapes(model, spec)
    params = nn.unbox(variables["params"])
    assert {leaf.dtype for leaf in jax.tree.leaves(params)} == {jnp.dtype(jnp.float32)}

    def computing(module, method_name):
        return method_name == "__call__" and type(module).__name__ in COMPUTING_LAYERS

    def forward(variables, *args):
        return model.apply(variables, *args, capture_intermediates=computing, mutable=True)

    _, state = jax.eval_shape(forward, variables, *args)
    outputs = [
        leaf
        for leaf in jax.tree.leaves(state["intermediates"])
        if jnp.issubdtype(leaf.dtype, jnp.floating)
    ]
    assert outputs and {leaf.dtype for leaf in outputs} == {jnp.dtype(jnp.bfloat16)}

    stored = module.make(variant, **overrides, dtype="bfloat16", param_dtype="bfloat16")
    flat = traverse_util.flatten_dict(nn.unbox(_init_shapes(stored, spec)["params"]), sep="/")
    want = {
        path: jnp.dtype(jnp.float32 if path in spec.float32_params else jnp.bfloat16)
        for path in flat
    }
    assert {path: leaf.dtype for path, leaf in flat.items()} == want


@pytest.mark.parametrize("name", [name for name, spec in SPECS.items() if spec.dtype])
def test_a_dtype_that_is_not_a_float_is_refused(name):
    with pytest.raises(
        ValueError, match=r"^dtype='int8' is not a floating-point dtype; pass e\.g\."
    ):
        models.load(name).make(dtype="int8")
    with pytest.raises(ValueError, match=r"^param_dtype='float33' is not a floating-point dtype"):
        models.load(name).make(param_dtype="float33")


def test_golden_files_are_all_used():
    used = {f"{golden[0]}_axes.json" for spec in SPECS.values() for golden in spec.golden}
    assert used == {path.name for path in GOLDEN.glob("*_axes.json")}
    assert np.all([(GOLDEN / name).is_file() for name in used])


def test_a_fork_copied_to_proj_keeps_the_contract(tmp_path, monkeypatch):
    """A model file copied under proj/ builds its own Config and Model through `contract.maker`."""
    from research.models import proj, rnn_lm

    (tmp_path / "erin").mkdir()
    (tmp_path / "erin" / "__init__.py").write_text("")
    source = pathlib.Path(rnn_lm.__file__).read_text()
    (tmp_path / "erin" / "rnn_lm.py").write_text(source)
    monkeypatch.setattr(proj, "__path__", [*proj.__path__, str(tmp_path)])
    fork = models.load("proj.erin.rnn_lm")
    assert fork is not rnn_lm and "proj.erin.rnn_lm" in models.available()
    model = fork.make("tiny", hidden_dim=8)
    assert type(model) is fork.Model and type(model.config) is fork.Config
    with pytest.raises(ValueError, match=r"^Unknown rnn_lm Config field\(s\) \['hidden_size'\]"):
        fork.make(hidden_size=8)
