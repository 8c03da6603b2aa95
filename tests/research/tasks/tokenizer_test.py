"""The workdir's tokenizer: settings that identify it, saved once, reused, a different one refused."""

import pytest

from experiments.configs.lm import gpt_tiny
from research.tasks.tokenizer import load_or_train_tokenizer, tokenizer_settings


def test_settings_identify_the_tokenizer_the_config_asks_for():
    config = gpt_tiny.get_config("smoke")
    assert tokenizer_settings(config) == {"kind": "bytes"}
    config.tokenizer.kind = "sentencepiece_bpe"
    config.tokenizer.vocab_size = 0  # 0 = the model's vocabulary size
    settings = tokenizer_settings(config)
    assert settings["kind"] == "sentencepiece_bpe"
    assert settings["requested_vocab_size"] == config.model.vocab_size
    assert (settings["data"], settings["train_split"]) == (config.data.name, "train")


def test_saved_once_reused_and_a_different_request_refused(tmp_path):
    config = gpt_tiny.get_config("smoke")
    first = load_or_train_tokenizer(config, tmp_path, ["some text"])
    assert (tmp_path / "tokenizer").is_dir()
    again = load_or_train_tokenizer(config, tmp_path, [])  # reloaded, not retrained
    assert again.encode("héllo").tolist() == first.encode("héllo").tolist()
    config.tokenizer.kind = "sentencepiece_bpe"
    with pytest.raises(ValueError, match="was trained with the tokenizer"):
        load_or_train_tokenizer(config, tmp_path, ["some text"])
