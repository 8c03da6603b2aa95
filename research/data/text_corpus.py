"""Documents of a text dataset by TFDS name: an embedded one, `pydoc_topics` (465 KB of Python's help
topics) or `stdlib_docstrings` (1.38 MB of the standard library's docstrings; splits train,
validation, test), or any prepared TFDS dataset with a text feature, read from `data_dir` (a local
folder or `gs://`) as array_record.

Nothing is downloaded: a real dataset must already be prepared in `data_dir` in the array_record
format (for example with `tfds build <name> --file_format=array_record --data_dir=<dir>` on a machine
with network access).
"""

import tensorflow_datasets as tfds

from research.data import pydoc_topics, stdlib_docstrings

EMBEDDED = {
    "pydoc_topics": pydoc_topics.load_texts,
    "stdlib_docstrings": stdlib_docstrings.load_texts,
}


def load_texts(name: str, split: str, *, data_dir: str | None, text_key: str = "text") -> list[str]:
    """All documents of `split` as strings, in the dataset's stored order."""
    if name in EMBEDDED:
        return EMBEDDED[name](split, data_dir)
    try:
        builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    except Exception as e:  # noqa: BLE001 - TFDS raises several types for unknown names
        # TFDS's own message lists every registered name (hundreds of lines): keep only its kind.
        raise ValueError(
            f"TFDS dataset {name!r} could not be opened in data_dir={data_dir!r} "
            f"({type(e).__name__}); pass a prepared dataset's name and --config.data.data_dir, or "
            f"use one of {sorted(EMBEDDED)}."
        ) from e
    if not builder.is_prepared():
        raise ValueError(
            f"TFDS dataset {name!r} is not prepared in data_dir={data_dir!r}; nothing is downloaded "
            f"at run time, so build it first with `tfds build {name} --file_format=array_record "
            "--data_dir=<dir>` and pass that dir as --config.data.data_dir."
        )
    if split not in builder.info.splits:
        raise ValueError(
            f"TFDS dataset {name!r} has no split {split!r}; choose one of "
            f"{sorted(builder.info.splits)} for --config.data.train_split / eval_split."
        )
    source = builder.as_data_source(split)
    texts = []
    for start in range(0, len(source), 1024):
        for example in source.__getitems__(range(start, min(start + 1024, len(source)))):
            if text_key not in example:
                raise ValueError(
                    f"TFDS dataset {name!r} has no feature {text_key!r}; set "
                    f"--config.data.text_key to one of {sorted(example)}."
                )
            value = example[text_key]
            texts.append(value.decode("utf-8") if isinstance(value, bytes) else str(value))
    return texts
