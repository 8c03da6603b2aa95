"""Label selection: frequency order with ties by name, and a refusal naming the caller's keys."""

import pytest

from research.tasks.label_selection import select_classes


def test_most_frequent_labels_first_ties_broken_by_name():
    labels = ["b", "a", "c", "c", "a", "b", "c", "d"]
    assert select_classes(labels, 3, min_docs=2) == ["c", "a", "b"]


def test_too_few_documents_names_the_callers_config_keys():
    labels = ["a"] * 3 + ["b"] * 3 + ["c"]
    with pytest.raises(ValueError, match=r"--config\.finetune\.data\.num_classes or"):
        select_classes(labels, 3, 2, keys=("finetune.data.num_classes", "finetune.data.x"))
