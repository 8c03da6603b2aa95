"""Every experiment config loads, in full and smoke mode, with the keys the training loop reads, and
its model section builds the model it names."""

import dataclasses
import importlib
import json

import ml_collections
import pytest

from research import models
from tests.experiments.run_experiment import ROOT

CONFIG_DIR = ROOT / "experiments" / "configs"
FILES = sorted(
    p.relative_to(ROOT).as_posix() for p in CONFIG_DIR.rglob("[!_]*.py") if p.name != "common.py"
)
# Experiments that do not train through research/train/loop.py (several short runs compared in one
# process, no checkpoints): they have no model family, eval or checkpoint keys, so only the
# runbook, smoke-size and unknown-argument tests apply.
STANDALONE = {
    "experiments/configs/attention/cost.py",
    "experiments/configs/attention/depth.py",
    "experiments/configs/embeddings/compare.py",
    "experiments/configs/rnn/gradients.py",
    "experiments/configs/rnn/memory.py",
    "experiments/configs/serve/gpt_tiny.py",  # serves a trained model; trains nothing
}
LOOP_FILES = [p for p in FILES if p not in STANDALONE]
# Composed experiments whose training-loop config is a section of theirs (the key named here).
LOOP_SECTIONS = {
    "experiments/configs/bert/contextual.py": "mlm",
    **{f"experiments/configs/{f}.py": "lm" for f in
       ("attention/long_context", "attention/masks", "attention/scale", "text/vocab_size")},
}  # fmt: skip
LOOP_KEYS = (
    "seed", "num_train_steps", "log_every_steps", "eval_every_steps", "checkpoint_every_steps",
    "keep_checkpoints", "skip_nonfinite_updates", "model_name", "model", "data", "optimizer",
)  # fmt: skip
OPTIMIZER_KEYS = (
    "learning_rate", "warmup_steps", "decay", "end_learning_rate_ratio", "b1", "b2", "eps",
    "weight_decay", "grad_clip_norm",
)  # fmt: skip


def _module(path: str):
    return importlib.import_module(path.removesuffix(".py").replace("/", "."))


def _loop_config(path: str, arg=None):
    """The config the training loop reads: the file's, or its LOOP_SECTIONS section."""
    config = _module(path).get_config(arg)
    return config[LOOP_SECTIONS[path]] if path in LOOP_SECTIONS else config


def test_the_known_configs_are_found():
    assert {"experiments/configs/digits/mlp.py", "experiments/configs/lm/gpt_tiny.py"} <= set(FILES)


@pytest.mark.parametrize("path", LOOP_FILES)
@pytest.mark.parametrize("arg", [None, "smoke"])
def test_config_has_the_standard_keys(path, arg):
    config = _loop_config(path, arg)
    for key in LOOP_KEYS:
        assert key in config, key
    assert set(OPTIMIZER_KEYS) <= set(config.optimizer)
    assert set(config.mesh) == {"data", "fsdp", "tensor"}
    assert config.num_train_steps > 0 and config.log_every_steps > 0
    assert "data_dir" in config.data
    json.loads(config.to_json_best_effort())  # the workdir stores it as config.json


@pytest.mark.parametrize("path", FILES)
def test_smoke_mode_is_small(path):
    full, smoke = _loop_config(path), _loop_config(path, "smoke")
    if path in STANDALONE and "num_train_steps" not in full:  # sized otherwise (epochs, ...)
        assert smoke.to_dict() != full.to_dict()
        return
    assert smoke.num_train_steps <= 50 < full.num_train_steps
    if path in STANDALONE:
        return
    assert smoke.eval_every_steps <= smoke.num_train_steps
    assert smoke.checkpoint_every_steps <= smoke.num_train_steps


@pytest.mark.parametrize("path", FILES)
def test_unknown_argument_is_refused(path):
    with pytest.raises(
        ValueError, match=r"Unknown config argument 'smok'; use ':smoke' or nothing"
    ):
        _module(path).get_config("smok")


@pytest.mark.parametrize("path", LOOP_FILES)
@pytest.mark.parametrize("arg", [None, "smoke"])
def test_model_section_builds_the_named_model(path, arg):
    config = _loop_config(path, arg)
    family = models.load(config.model_name)
    model = family.make(**config.model.to_dict())
    assert isinstance(model, family.Model)
    # The preset is expanded: every Config field is an explicit, overridable key.
    assert dataclasses.asdict(model.config) == config.model.to_dict()


@pytest.mark.parametrize("path", FILES)
def test_docstring_is_the_runbook(path):
    doc = _module(path).__doc__
    assert f"--config={path}" in doc  # the command that runs this very file
    assert "smoke" in doc


def test_model_fields_that_default_to_none_can_be_set_from_the_command_line():
    # ml_collections refuses to override a plain None ("Type NoneType ... is not supported for
    # overriding"), so model_section makes such fields typed placeholders.
    from absl import flags
    from ml_collections import config_flags

    from experiments.configs.common import model_section

    section = model_section("transformer_lm", "tiny")
    assert section.to_dict()["attention_impl"] is None
    argv = ["prog", "--config.model.attention_impl=blockwise", "--config.model.attention_scale=1.0"]
    holder = flags.FlagValues()
    config = ml_collections.ConfigDict({"model": section})
    config_flags.DEFINE_config_dict("config", config, flag_values=holder, sys_argv=argv)
    holder(argv)
    assert holder.config.model.attention_impl == "blockwise"
    assert holder.config.model.attention_scale == 1.0
