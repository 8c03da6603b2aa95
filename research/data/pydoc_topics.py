"""English text of Python's own help topics (`pydoc_data.topics`) as a TFDS dataset, offline.

79 documents (about 465 KB on Python 3.11) that ship with every CPython, split by document: a
permutation of the sorted ids with a fixed seed puts round(0.1 * n) documents in 'validation' and
the rest in 'train'. Stored as array_record, which TFDS writes and reads without TensorFlow.

The text differs between Python releases (3.12: 492 KB, 3.13: 511 KB), so the builder config is
named after the running Python and a hash of its topics: a data_dir prepared by one release is never
read as another's. Compare losses only between runs whose config name matches (`config_name()`).

TFDS prepares into `<name>/<config>/incomplete.<random>_1.0.0` and renames it to `1.0.0` only when
every split is written; a failed or killed preparation leaves no `1.0.0`, so the next call
prepares again instead of reading half a dataset.
"""

import hashlib
import sys
from pydoc_data import topics as pydoc_data_topics

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from research.text.byte_tokenizer import ByteTokenizer

SPLITS = ("train", "validation")
VALIDATION_FRACTION = 0.1
SPLIT_SEED = 0  # part of the dataset's definition: changing it must bump VERSION


def _documents() -> dict[str, str]:
    return dict(pydoc_data_topics.topics)


def config_name() -> str:
    """Name of this Python's corpus, e.g. 'py311_1a2b3c4d' (release and hash of the topics)."""
    digest = hashlib.sha256()
    for doc_id, text in sorted(_documents().items()):
        digest.update(f"{doc_id}\0{text}\0".encode())
    return f"py{sys.version_info.major}{sys.version_info.minor}_{digest.hexdigest()[:8]}"


def split_ids(doc_ids) -> dict[str, list[str]]:
    """Document ids of each split, each list sorted; the splits are disjoint and cover `doc_ids`."""
    doc_ids = sorted(doc_ids)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(doc_ids))
    num_validation = round(VALIDATION_FRACTION * len(doc_ids))
    return {
        "train": sorted(doc_ids[i] for i in perm[num_validation:]),
        "validation": sorted(doc_ids[i] for i in perm[:num_validation]),
    }


class PydocTopics(tfds.core.GeneratorBasedBuilder):
    """TFDS builder `pydoc_topics`: examples {'id': Text, 'text': Text}, splits train/validation."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    # TFDS 4.9.10 finds a package builder's file through `importlib_resources`, a backport it no
    # longer installs on Python >= 3.9; naming the file here skips that lookup.
    code_path = epath.Path(__file__)
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name=config_name(), description="pydoc_data.topics of this Python.")
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="English text of Python's help topics, split 90/10 by document.",
            features=tfds.features.FeaturesDict(
                {"id": tfds.features.Text(), "text": tfds.features.Text()}
            ),
            homepage="https://docs.python.org/3/library/pydoc.html",
            disable_shuffling=True,  # keep the sorted generation order on disk
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download: the text ships with Python
        ids = split_ids(_documents())
        return {split: self._generate_examples(ids[split]) for split in SPLITS}

    def _generate_examples(self, doc_ids):
        documents = _documents()
        for doc_id in doc_ids:
            yield doc_id, {"id": doc_id, "text": documents[doc_id]}


def _prepared(data_dir: str | None) -> PydocTopics:
    builder = PydocTopics(data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare()  # returns at once when the dataset is already there
    return builder


def load_documents(split: str, data_dir: str | None = None) -> dict[str, str]:
    """{id: text} of `split`, sorted by id; prepares the dataset in `data_dir` on first use.

    data_dir None means TFDS's default (~/tensorflow_datasets or $TFDS_DATA_DIR).
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {SPLITS}; pass 'train' or 'validation'.")
    source = _prepared(data_dir).as_data_source(split)
    examples = source.__getitems__(range(len(source)))
    pairs = ((ex["id"].decode("utf-8"), ex["text"].decode("utf-8")) for ex in examples)
    return dict(sorted(pairs))


def load_texts(split: str, data_dir: str | None = None) -> list[str]:
    """Texts of `split`, in id order; prepares the dataset in `data_dir` on first use."""
    return list(load_documents(split, data_dir).values())


def load_tokens(split: str, data_dir: str | None = None) -> np.ndarray:
    """Byte ids of `split`, each document followed by eos. Shape: int32 [T]."""
    return ByteTokenizer().encode_documents(load_texts(split, data_dir))
