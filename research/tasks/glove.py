"""The GloVe task: count co-occurrences once (saved in the workdir), then fit them in batches.

    counts = count_cooccurrences(config, workdir)   # vocabulary, X (this process's rows), seconds
    task = build_task(config, counts)               # the loop's Task: batches of X's nonzeros
    vectors = word_vectors(params, counts.vocab)    # W + W~ for every vocabulary word

Config keys read: `seed`, `model.*` (research/models/glove.py; `model.vocab_size` caps the
vocabulary, the model is built with the vocabulary's actual size), `loss.x_max` and `loss.alpha`
(research/train/glove_loss.py), and `data.*`: corpus ('stdlib_docstrings': the `split` docstrings,
one sentence each, lowercased regex words; 'planted': `planted_embeddings.planted_corpus(**planted)`),
data_dir, split, min_count, window (symmetric, 1/d weights), batch_size (nonzeros per step),
chunk_tokens (the counting chunk), planted.

The workdir gets vocabulary.json and cooccurrence/shard-<i>-of-<n>.npz (this process's row block,
keyed by the corpus settings and the exact vocabulary, so a resumed run reads it instead of
counting again).
"""

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import jax
import numpy as np

from research.data import array_pipeline, planted_embeddings, stdlib_docstrings
from research.embeddings import cooccurrence
from research.embeddings.vocabulary import Vocabulary
from research.embeddings.word_vectors import WordVectors
from research.models import glove
from research.text.regex_tokenizer import RegexTokenizer
from research.train.glove_loss import glove_loss
from research.train.task import Task

CORPORA = ("stdlib_docstrings", "planted")


@dataclasses.dataclass(frozen=True)
class Cooccurrences:
    """The counted corpus: vocabulary, answer key (planted corpus), this process's shard of X and
    the seconds counting took (0 when the shard was read from the workdir)."""

    vocab: Vocabulary
    planted: planted_embeddings.PlantedCorpus | None
    matrix: cooccurrence.Cooccurrence  # this process's row block
    count_seconds: float


def load_sentences(data) -> tuple[list[list[str]], planted_embeddings.PlantedCorpus | None]:
    """The training sentences of `config.data` and, for the planted corpus, its answer key."""
    if data.corpus == "planted":
        planted = planted_embeddings.planted_corpus(**data.planted.to_dict())
        return planted.sentences, planted
    if data.corpus == "stdlib_docstrings":
        tokenizer = RegexTokenizer(lowercase=True)
        texts = stdlib_docstrings.load_texts(data.split, data.data_dir)
        return [tokenizer(text) for text in texts], None
    raise ValueError(
        f"--config.data.corpus={data.corpus!r} is not known; use one of {', '.join(CORPORA)}."
    )


def _check(config) -> None:
    if config.data.window < 1:
        raise ValueError(
            f"--config.data.window={config.data.window} must be at least 1 (context words on each "
            "side); pass e.g. 10."
        )
    if config.model.embed_dim < 1:
        raise ValueError(
            f"--config.model.embed_dim={config.model.embed_dim} must be at least 1; pass e.g. 50."
        )


def _matrix_key(config, vocab: Vocabulary) -> str:
    """What the counted matrix depends on: corpus settings, window and the exact vocabulary."""
    words = hashlib.sha256("\n".join(vocab.words).encode()).hexdigest()
    data = {
        k: v for k, v in config.data.to_dict().items() if k not in ("batch_size", "chunk_tokens")
    }
    return json.dumps({"data": data, "vocabulary": words}, sort_keys=True, default=str)


def count_cooccurrences(config, workdir) -> Cooccurrences:
    """Builds the vocabulary and counts (or reads back) this process's rows of X in `workdir`."""
    _check(config)
    sentences, planted = load_sentences(config.data)
    vocab = Vocabulary.build(sentences, config.data.min_count, max_size=config.model.vocab_size)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if jax.process_index() == 0:
        vocab.save(workdir / "vocabulary.json")
    index, count = jax.process_index(), jax.process_count()
    path = workdir / "cooccurrence" / f"shard-{index:05d}-of-{count:05d}.npz"
    existed = path.exists()
    start = time.perf_counter()
    matrix = cooccurrence.build_or_load(
        path,
        lambda: (vocab.encode(s) for s in sentences),
        len(vocab),
        config.data.window,
        key=_matrix_key(config, vocab),
        chunk_tokens=config.data.chunk_tokens,
        shard_index=index,
        shard_count=count,
    )
    count_seconds = 0.0 if existed else time.perf_counter() - start
    return Cooccurrences(vocab, planted, matrix, count_seconds)


def build_task(config, counts: Cooccurrences) -> Task:
    """The loop's task: GloVe's model, its loss and shuffled batches of X's nonzeros."""
    model = glove.make(**{**config.model.to_dict(), "vocab_size": len(counts.vocab)})
    x_max, alpha = config.loss.x_max, config.loss.alpha

    def loss_fn(params, model_state, batch, rng, train):
        pred = model.apply({"params": params}, batch["rows"], batch["cols"])
        total, metrics = glove_loss(pred, batch["counts"], x_max, alpha)
        return total, metrics, model_state

    def train_iterator(process_index, process_count):
        local = array_pipeline.local_batch_size(
            config.data.batch_size, process_index, process_count
        )
        return cooccurrence.train_iterator(counts.matrix, batch_size=local, seed=config.seed)

    ids = np.zeros(1, np.int32)
    return Task(
        model=model,
        init_inputs=(ids, ids),
        loss_fn=loss_fn,
        train_iterator=train_iterator,
        items_name="nonzeros",
    )


def word_vectors(params, vocab: Vocabulary) -> WordVectors:
    """W + W~ for every vocabulary word (params: the trained model's, possibly sharded)."""
    return WordVectors(vocab.words, glove.word_vectors(params, len(vocab)))
