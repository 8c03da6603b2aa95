"""Our word2vec, FastText or GloVe as one run of a composed experiment: a schedule in epochs.

    run = prepare(config.word2vec, stage_workdir, corpus="planted", epochs=5.0)
    result = stages.run(name, run.config, workdir, run.task)      # experiments/stages.py
    vectors = run.vectors(result.params)

`config` is the method's own experiment config (experiments/configs/embeddings/word2vec.py,
fasttext.py or glove.py, nested in the composing config; `model_name` picks the task:
research/tasks/word2vec.py or research/tasks/glove.py). `prepare` copies it, sets `data.corpus`, and
derives from the corpus what depends on it: `num_train_steps` = `epochs` passes over the examples
(skip-gram pairs, CBOW windows or FastText's centers; GloVe's nonzero co-occurrences) in batches of
`data.batch_size`, rounded up to whole calls of `steps_per_call`, about 10 log lines, one evaluation
and one checkpoint at the end. FastText with `data.skipgram_windows` takes `batch_pairs`: its batch
of centers is the multiple of 8 that holds about that many pairs. Each task is built once.
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from research.embeddings.word_vectors import WordVectors
from research.tasks import glove as glove_task
from research.tasks import word2vec as word2vec_task
from research.train.task import Task


@dataclasses.dataclass(frozen=True)
class VectorRun:
    """One method ready to train: its resolved config, Task, and the export of trained params."""

    config: Any  # ConfigDict: the method's config with corpus and schedule set
    task: Task
    vectors: Callable[[Any], WordVectors]  # trained params -> the word vectors
    examples_per_epoch: int  # pairs, windows or centers; GloVe: nonzeros of X (this process's)
    info: dict  # what the report shows: examples_per_epoch, or nonzeros and count_seconds


def set_schedule(config, steps: float) -> None:
    """`steps` rounded up to whole calls of `config.steps_per_call`; about 10 log lines, one
    evaluation and one checkpoint, at the end."""
    per_call = config.steps_per_call
    calls = max(1, math.ceil(steps / per_call))
    config.num_train_steps = calls * per_call
    config.log_every_steps = max(1, calls // 10) * per_call
    config.eval_every_steps = config.num_train_steps
    config.checkpoint_every_steps = config.num_train_steps


def prepare(config, workdir, *, corpus: str, epochs: float, batch_pairs: int = 0) -> VectorRun:
    """The run of `config`'s method on `corpus` for `epochs` passes (see the module docstring);
    GloVe counts its co-occurrences into `workdir` (the run's own) here."""
    config = config.copy_and_resolve_references()
    config.data.corpus = corpus
    if config.model_name == "glove":
        counts = glove_task.count_cooccurrences(config, workdir)
        per_epoch = len(counts.matrix)
        set_schedule(config, epochs * per_epoch / config.data.batch_size)
        task = glove_task.build_task(config, counts)
        info = {"nonzeros": per_epoch, "count_seconds": counts.count_seconds}
        return VectorRun(
            config, task, lambda p: glove_task.word_vectors(p, counts.vocab), per_epoch, info
        )
    words = word2vec_task.load_corpus(config.data)
    examples = word2vec_task.epoch_examples(config, words)
    per_epoch = len(examples["targets"])  # pairs, or centers for FastText's grouped windows
    if config.data.skipgram_windows:
        if batch_pairs < 1:
            raise ValueError(
                f"batch_pairs={batch_pairs}: FastText's grouped windows need the pairs a batch "
                "should hold; pass e.g. batch_pairs=1024."
            )
        # A batch of FastText centers holds about batch_pairs pairs, as word2vec's batch does:
        # batches of as many centers (~5.6x the pairs) sum so many updates into the n-gram rows
        # that all planted words share that the run diverged. A multiple of 8, so that it splits
        # over up to 8 data-parallel devices.
        pairs_per_center = examples["mask"].sum() / per_epoch
        config.data.batch_size = max(8, 8 * round(batch_pairs / pairs_per_center / 8))
    set_schedule(config, epochs * per_epoch / config.data.batch_size)
    task = word2vec_task.build_task(config, words)

    def vectors(params) -> WordVectors:
        return word2vec_task.export_vectors(config, task.model, params, words.vocab)

    return VectorRun(config, task, vectors, per_epoch, {"examples_per_epoch": per_epoch})
