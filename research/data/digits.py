"""scikit-learn's handwritten digits (1797 images of 8x8 pixels, values 0..16) as a TFDS dataset.

The images ship inside scikit-learn (`load_digits`), so nothing downloads. A permutation of the
image indices with a fixed seed puts round(0.1 * n) = 180 images in 'test' and 1617 in 'train'; each
split keeps index order. Stored as array_record, which TFDS writes and reads without TensorFlow; TFDS
prepares into an `incomplete.*` folder and renames it only when complete (see `pydoc_topics`).
"""

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from sklearn.datasets import load_digits

SPLITS = ("train", "test")
TEST_FRACTION = 0.1
SPLIT_SEED = 0  # part of the dataset's definition: changing it must bump VERSION
MAX_PIXEL = 16


def split_indices(num_images: int) -> dict[str, np.ndarray]:
    """Sorted image indices of each split; disjoint, together range(num_images). Shape: int [n]."""
    perm = np.random.default_rng(SPLIT_SEED).permutation(num_images)
    num_test = round(TEST_FRACTION * num_images)
    return {"train": np.sort(perm[num_test:]), "test": np.sort(perm[:num_test])}


class Digits(tfds.core.GeneratorBasedBuilder):
    """TFDS builder `digits`: examples {'image': uint8 [8, 8], 'label': ClassLabel(10)}."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    # TFDS 4.9.10 finds a package builder's file through `importlib_resources`, a backport it no
    # longer installs on Python >= 3.9; naming the file here skips that lookup.
    code_path = epath.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="scikit-learn's 8x8 handwritten digits (UCI optdigits test set), 90/10.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(8, 8), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html",
            disable_shuffling=True,  # keep index order on disk
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download: the images ship with scikit-learn
        digits = load_digits()
        indices = split_indices(len(digits.target))
        return {split: self._generate_examples(digits, indices[split]) for split in SPLITS}

    def _generate_examples(self, digits, indices):
        for i in indices:
            image = digits.images[i].astype(np.uint8)  # integers 0..16 stored as float64
            yield int(i), {"image": image, "label": int(digits.target[i])}


def load_arrays(split: str, data_dir: str | None = None) -> dict[str, np.ndarray]:
    """Images and labels of `split`; prepares the dataset in `data_dir` on first use.

    Shapes: {'image': float32 [N, 64] in [0, 1] (pixels / 16), 'label': int32 [N]}. data_dir None
    means TFDS's default (~/tensorflow_datasets or $TFDS_DATA_DIR).
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {SPLITS}; pass 'train' or 'test'.")
    builder = Digits(data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare()  # returns at once when the dataset is already there
    source = builder.as_data_source(split)
    examples = source.__getitems__(range(len(source)))
    images = np.stack([ex["image"] for ex in examples]).reshape(len(examples), 64)
    return {
        "image": images.astype(np.float32) / MAX_PIXEL,
        "label": np.array([ex["label"] for ex in examples], np.int32),
    }
