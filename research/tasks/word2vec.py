"""The word2vec / FastText task: negative sampling on skip-gram pairs or CBOW windows of a corpus.

    corpus = load_corpus(config.data)             # sentences, vocabulary, encoded ids: once
    task = build_task(config, corpus)             # the loop's Task
    vectors = export_vectors(config, task.model, params, corpus.vocab)

Config keys read: `model_name` ('word2vec' or 'fasttext'), `model.*` (architecture, embed_dim;
FastText's min_n, max_n, num_buckets), `seed`, and `data.*`: corpus ('stdlib_docstrings': the
standard library's train-split docstrings, one sentence each, lowercased regex words; 'planted':
`research.data.planted_embeddings` with `planted_seed`), data_dir, min_count, max_vocab_size (0: no
limit), window, sample, negative, ns_exponent (the unigram exponent of the negative table),
batch_size, skipgram_windows (skip-gram pairs grouped by center: batch_size then counts centers).

`model.vocab_size` is replaced by the vocabulary's size (FastText's `ngram_rows` by the number of
n-gram buckets the vocabulary uses), padded to a multiple of 128 (`padded_vocab_size`) so the tables
shard evenly over any power-of-two 'tensor' axis up to 128; the padding rows are never read. The
loss is the SUM of the batch's per-pair losses, so plain SGD moves each row as one word2vec.c update
would.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from research import models
from research.data import planted_embeddings, stdlib_docstrings
from research.embeddings import subword_ngrams
from research.embeddings.negative_sampling import negative_sampling_loss, sample_negatives
from research.embeddings.skipgram_data import TrainingExamples
from research.embeddings.vocabulary import Vocabulary
from research.embeddings.word2vec_sampling import unigram_table
from research.embeddings.word_vectors import WordVectors
from research.models.fasttext import unseen_bucket_vector
from research.nn.vocab_padding import padded_vocab_size
from research.text.regex_tokenizer import RegexTokenizer
from research.train.task import Task

CORPORA = ("stdlib_docstrings", "planted")
ROW_MULTIPLE = 128


@dataclasses.dataclass(frozen=True)
class Corpus:
    """A corpus ready to train on: words, the vocabulary and each sentence's ids (int [n_i])."""

    sentences: list[list[str]]
    planted: planted_embeddings.PlantedCorpus | None  # the answer key of the planted corpus
    vocab: Vocabulary
    encoded: list[np.ndarray]


def load_corpus(data) -> Corpus:
    """The corpus of `config.data` (see the module docstring), tokenized and encoded once."""
    planted = None
    if data.corpus == "planted":
        planted = planted_embeddings.planted_corpus(seed=data.planted_seed)
        sentences = planted.sentences
    elif data.corpus == "stdlib_docstrings":
        tokenizer = RegexTokenizer(lowercase=True)
        sentences = [tokenizer(t) for t in stdlib_docstrings.load_texts("train", data.data_dir)]
    else:
        raise ValueError(
            f"--config.data.corpus={data.corpus!r} is not known; use one of {', '.join(CORPORA)}."
        )
    vocab = Vocabulary.build(sentences, data.min_count, data.max_vocab_size or None)
    return Corpus(sentences, planted, vocab, [vocab.encode(s) for s in sentences])


def subword_table(config, vocab) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FastText's (rows int32 [V, M], mask float32 [V, M], used buckets int64 [R]): each word's
    n-gram rows in the compact table of the R buckets the vocabulary uses."""
    cfg = config.model
    ids, mask = subword_ngrams.bucket_table(vocab.words, cfg.min_n, cfg.max_n, cfg.num_buckets)
    rows, used = subword_ngrams.compact_buckets(ids, mask)
    return rows, mask, used


def data_mode(config) -> str:
    """The example iterator's mode: 'cbow', 'skipgram' (pairs) or 'skipgram_windows' (pairs grouped
    by center, `data.skipgram_windows`: `data.batch_size` then counts centers)."""
    if config.model.architecture == "skipgram" and config.data.skipgram_windows:
        return "skipgram_windows"
    return config.model.architecture


def _examples(config, corpus: Corpus, batch_size: int, process_index=0, process_count=1):
    return TrainingExamples(
        corpus.encoded,
        corpus.vocab.counts,
        mode=data_mode(config),
        window=config.data.window,
        sample=config.data.sample,
        global_batch_size=batch_size,
        seed=config.seed,
        process_index=process_index,
        process_count=process_count,
    )


def epoch_examples(config, corpus: Corpus) -> dict[str, np.ndarray]:
    """Epoch 0's examples exactly as the task's iterator makes them ({'inputs', 'targets'[, 'mask']},
    [N, ...] each): what a schedule in epochs counts. Independent of `data.batch_size`."""
    return _examples(config, corpus, batch_size=1).examples(0)


def build_task(config, corpus: Corpus) -> Task:
    """The loop's task: the model, the negative-sampling loss and the example iterator."""
    data = config.data
    if data.negative < 1:
        raise ValueError(f"--config.data.negative={data.negative} must be >= 1; pass e.g. 5.")
    vocab = corpus.vocab
    model_cfg = {
        **config.model.to_dict(),
        "vocab_size": padded_vocab_size(len(vocab), ROW_MULTIPLE),
    }
    is_fasttext = config.model_name == "fasttext"
    buckets = None
    if is_fasttext:
        rows, mask, used = subword_table(config, vocab)
        buckets = (jnp.asarray(rows), jnp.asarray(mask))
        model_cfg["ngram_rows"] = padded_vocab_size(len(used), ROW_MULTIPLE)
    model = models.load(config.model_name).make(**model_cfg)
    table = jnp.asarray(unigram_table(vocab.counts, data.ns_exponent))
    mode = data_mode(config)

    def loss_fn(params, model_state, batch, rng, train):
        targets = batch["targets"]  # [B], or [B, C] for skip-gram windows
        negatives = sample_negatives(rng, table, (*targets.shape, data.negative))
        skip = (negatives != targets[..., None]).astype(jnp.float32)  # a draw of the target
        inputs = batch["inputs"]
        extra = (buckets[0][inputs], buckets[1][inputs]) if is_fasttext else ()
        input_mask = batch["mask"] if mode == "cbow" else None
        positive, negative = model.apply(
            {"params": params}, inputs, *extra, targets, negatives, input_mask
        )
        per_pair = negative_sampling_loss(positive, negative, skip)
        weights = batch["mask"] if mode == "skipgram_windows" else jnp.ones_like(per_pair)
        total = jnp.sum(per_pair * weights)
        return total, {"loss": (total, jnp.sum(weights))}, model_state

    def train_iterator(process_index, process_count):
        return _examples(config, corpus, data.batch_size, process_index, process_count)

    width = 2 * data.window
    inputs = np.zeros((1, width) if mode == "cbow" else (1,), np.int32)
    targets = np.zeros((1, width) if mode == "skipgram_windows" else (1,), np.int32)
    extra = ()
    if is_fasttext:
        extra = (np.zeros((*inputs.shape, 1), np.int32), np.zeros((*inputs.shape, 1), np.float32))
    init_inputs = (
        inputs,
        *extra,
        targets,
        np.zeros((*targets.shape, data.negative), np.int32),
        np.ones((1, width), np.float32) if mode == "cbow" else None,
    )
    return Task(
        model=model,
        init_inputs=init_inputs,
        loss_fn=loss_fn,
        train_iterator=train_iterator,
        items_name="pairs" if mode == "skipgram" else "windows",
    )


def export_vectors(config, model, params, vocab: Vocabulary) -> WordVectors:
    """The trained word vectors; FastText's answer out-of-vocabulary words from their n-grams."""
    params = jax.device_get(params)
    if config.model_name != "fasttext":
        return WordVectors(vocab.words, np.asarray(params["embedding"])[: len(vocab)])
    rows, mask, used = subword_table(config, vocab)
    vectors = model.apply({"params": params}, rows, mask, method="word_vectors")
    ngrams = np.asarray(params["ngrams"])
    cfg = config.model

    def bucket_vector(bucket: int) -> np.ndarray:
        i = np.searchsorted(used, bucket)
        if i < len(used) and used[i] == bucket:
            return ngrams[i]
        return unseen_bucket_vector(bucket, cfg.embed_dim, config.seed)

    def oov_vector(word: str) -> np.ndarray:
        b = subword_ngrams.ngram_buckets(word, cfg.min_n, cfg.max_n, cfg.num_buckets)
        if not b:  # no n-gram at all: the origin, as gensim and fastText answer
            return np.zeros(ngrams.shape[1], np.float32)
        return np.mean([bucket_vector(x) for x in b], axis=0).astype(np.float32)

    return WordVectors(vocab.words, np.asarray(vectors), oov_vector=oov_vector)
