"""The docstring-package classification data of the fine-tuning experiments: standard-library
docstrings (`research.data.stdlib_docstrings`) labelled by top-level package, restricted to the
most frequent packages of the train split.

Config keys read (the fine-tuning section, `config.finetune` in every experiment):
data.{data_dir, eval_split, num_classes, min_train_docs}.
"""

import dataclasses

from research.data import stdlib_docstrings
from research.tasks.label_selection import select_classes


@dataclasses.dataclass(frozen=True)
class DocstringPackages:
    """The chosen classes, and the train and evaluation documents as (texts, package labels).

    Every document is kept, whatever its package: each experiment keeps those of `classes` when it
    builds its arrays (`text_to_text.classification_arrays`, or its own)."""

    classes: list[str]
    train: tuple[list[str], list[str]]
    held_out: tuple[list[str], list[str]]


def docstring_packages(section, *, flag_prefix: str = "finetune") -> DocstringPackages:
    """The `section.data.num_classes` most frequent train packages with at least
    `section.data.min_train_docs` documents, and the train / `section.data.eval_split` documents.

    flag_prefix: where `section` sits in the experiment's config, for the error that names the
    flags to change (`--config.<flag_prefix>.data.num_classes`)."""
    data = section.data
    texts, labels = stdlib_docstrings.load_examples("train", data.data_dir)
    classes = select_classes(
        labels, data.num_classes, data.min_train_docs,
        keys=(f"{flag_prefix}.data.num_classes", f"{flag_prefix}.data.min_train_docs"),
    )  # fmt: skip
    held_out = stdlib_docstrings.load_examples(data.eval_split, data.data_dir)
    return DocstringPackages(classes=classes, train=(texts, labels), held_out=tuple(held_out))
