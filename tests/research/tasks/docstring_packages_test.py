"""The docstring-package data: the classes are the most frequent train packages, the held-out
documents are the configured split, and a refusal names the caller's flags."""

import collections
import importlib
import re

import ml_collections
import pytest

from research.data import stdlib_docstrings
from research.tasks.docstring_packages import docstring_packages


def _section(**data):
    defaults = dict(data_dir=None, eval_split="test", num_classes=3, min_train_docs=20)
    return ml_collections.ConfigDict({"data": defaults | data})


def test_classes_are_the_most_frequent_train_packages_and_every_document_is_kept():
    docs = docstring_packages(_section())
    texts, labels = docs.train
    counts = collections.Counter(labels)
    assert docs.classes == [name for name, _ in counts.most_common(3)]
    assert len(texts) == len(labels) > len([x for x in labels if x in docs.classes])
    assert docs.held_out == stdlib_docstrings.load_examples("test")


def test_too_many_classes_names_the_callers_flags():
    with pytest.raises(ValueError, match=r"--config\.ft\.data\.num_classes or --config\.ft\.data"):
        docstring_packages(_section(num_classes=5, min_train_docs=10**6), flag_prefix="ft")


@pytest.mark.parametrize("config_file", ["t5/span_corruption", "gpt/classify", "bert/mlm"])
def test_the_flags_a_refusal_advises_exist_in_each_experiments_config(config_file):
    # The class-count refusal of train_t5 / finetune_gpt / train_mlm must name real keys.
    config = importlib.import_module(f"experiments.configs.{config_file.replace('/', '.')}")
    config = config.get_config("smoke")
    config.finetune.data.min_train_docs = 10**6
    with pytest.raises(ValueError) as e:
        docstring_packages(config.finetune)
    flags = re.findall(r"--config\.(\w+(?:\.\w+)*)", str(e.value))
    assert flags == ["finetune.data.num_classes", "finetune.data.min_train_docs"]
    for flag in flags:
        section, *path, key = flag.split(".")
        node = config[section]
        for name in path:
            node = node[name]
        assert key in node, flag
