"""Train word2vec (skip-gram or CBOW) or FastText with negative sampling through the one loop.

  python -m experiments.train_word2vec --config=experiments/configs/embeddings/word2vec.py \
      --workdir=runs/word2vec
  python -m experiments.train_word2vec --config=experiments/configs/embeddings/fasttext.py \
      --workdir=runs/fasttext

`config.model_name` picks the model file ('word2vec' or 'fasttext'), `config.model.architecture`
skip-gram or CBOW. The corpus (`config.data.corpus`): 'stdlib_docstrings' (the standard library's
docstrings, train split, one sentence per docstring, lowercased regex words) or 'planted' (the
synthetic corpus of `research.data.planted_embeddings`, scored by cluster and analogy accuracy).
`config.model.vocab_size` is replaced by the size of the vocabulary built with `data.min_count`
(and FastText's `ngram_rows` by the number of n-gram buckets it uses), rounded up to a multiple of
128 so the tables shard evenly over the 'tensor' mesh axis.

Updates are the loop's plain SGD (`optimizer.name='sgd'`) with word2vec's linear decay from 0.025
towards 0.0001 on the SUM of the batch's per-pair losses: each pair moves the rows it touches as one
word2vec.c update would (all pairs of a batch at once), and untouched rows get a zero update.

The workdir gets, beside the loop's checkpoints and metrics: vectors.txt (word2vec text format,
gensim loads it), vocabulary.json, results.json / results.md, and word2vec.png (loss curve and a
2-D PCA of the vectors). `train_vectors(config, workdir) -> WordVectors` is the function other
experiments (the gensim comparison) call; `train` also returns the results dict.
"""

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

from experiments import entry
from experiments.results import write_results
from research import models
from research.data import planted_embeddings, stdlib_docstrings
from research.embeddings import evaluation, subword_ngrams
from research.embeddings.negative_sampling import negative_sampling_loss, sample_negatives
from research.embeddings.skipgram_data import TrainingExamples
from research.embeddings.vocabulary import Vocabulary
from research.embeddings.word2vec_sampling import unigram_table
from research.embeddings.word_vectors import WordVectors
from research.models.fasttext import unseen_bucket_vector
from research.text.regex_tokenizer import RegexTokenizer
from research.train import loop
from research.train.metrics import metric_curve
from research.train.task import Task

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

CORPORA = ("stdlib_docstrings", "planted")
ROW_MULTIPLE = 128
# Words whose nearest neighbours results.md lists (those in the vocabulary; planted: c0_r0, c1_r1).
PROBES = ("list", "file", "thread", "socket", "true", "encoding", "c0_r0", "c1_r1")


def corpus_sentences(data) -> tuple[list[list[str]], planted_embeddings.PlantedCorpus | None]:
    """(sentences, planted corpus or None) of `config.data`: lists of words."""
    if data.corpus == "planted":
        planted = planted_embeddings.planted_corpus(seed=data.planted_seed)
        return planted.sentences, planted
    if data.corpus == "stdlib_docstrings":
        tokenizer = RegexTokenizer(lowercase=True)
        texts = stdlib_docstrings.load_texts("train", data.data_dir)
        return [tokenizer(t) for t in texts], None
    raise ValueError(
        f"--config.data.corpus={data.corpus!r} is not known; use one of {', '.join(CORPORA)}."
    )


def build_vocabulary(data, sentences) -> Vocabulary:
    return Vocabulary.build(sentences, data.min_count, data.max_vocab_size or None)


def padded_rows(n: int) -> int:
    """Table rows for n entries, rounded up to a multiple of 128 so that the rows split evenly over
    any power-of-two 'tensor' mesh axis up to 128 (the extra rows are never read)."""
    return max(-(-n // ROW_MULTIPLE) * ROW_MULTIPLE, ROW_MULTIPLE)


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


def build_task(config, vocab: Vocabulary, encoded: list[np.ndarray]) -> Task:
    """The loop's task: the model, the negative-sampling loss and the example iterator."""
    data = config.data
    if data.negative < 1:
        raise ValueError(f"--config.data.negative={data.negative} must be >= 1; pass e.g. 5.")
    model_cfg = {**config.model.to_dict(), "vocab_size": padded_rows(len(vocab))}
    is_fasttext = config.model_name == "fasttext"
    buckets = None
    if is_fasttext:
        rows, mask, used = subword_table(config, vocab)
        buckets = (jnp.asarray(rows), jnp.asarray(mask))
        model_cfg["ngram_rows"] = padded_rows(len(used))
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
        return TrainingExamples(
            encoded,
            vocab.counts,
            mode=mode,
            window=data.window,
            sample=data.sample,
            global_batch_size=data.batch_size,
            seed=config.seed,
            process_index=process_index,
            process_count=process_count,
        )

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


def _scores(vectors: WordVectors, planted) -> dict:
    if planted is None:
        return {}
    return {
        "cluster_accuracy": evaluation.cluster_accuracy(vectors, planted.cluster_of),
        "analogy_accuracy_add": evaluation.analogy_accuracy(vectors, planted.analogies, "add"),
        "analogy_accuracy_mul": evaluation.analogy_accuracy(vectors, planted.analogies, "mul"),
    }


def _plot(workdir: Path, vectors: WordVectors, planted, title: str) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    left.plot(*metric_curve(workdir, "train/loss"))
    left.set(xlabel="step", ylabel="negative-sampling loss per example", title=title)
    words = list(planted.cluster_of) if planted else list(vectors.words[:300])
    x = np.stack([vectors.vector(w) for w in words])
    x = x - x.mean(0)
    xy = x @ np.linalg.svd(x, full_matrices=False)[2][:2].T
    if planted:
        colors = [planted.cluster_of[w] for w in words]
        right.scatter(xy[:, 0], xy[:, 1], c=colors, cmap="tab10", s=12)
    else:
        right.scatter(xy[:, 0], xy[:, 1], s=12)
    for w, (a, b) in list(zip(words, xy, strict=True))[: 0 if planted else 40]:
        right.annotate(w, (a, b), fontsize=7)
    right.set(title="PCA of the vectors" + (" (colour: planted cluster)" if planted else ""))
    fig.tight_layout()
    fig.savefig(workdir / "word2vec.png", dpi=100)
    plt.close(fig)


def train_vectors(config, workdir) -> WordVectors:
    """Trains as `config` says in `workdir` (resuming a run there) and returns the word vectors;
    also writes vectors.txt, vocabulary.json, results.json / results.md and the plot."""
    return train(config, workdir)[0]


def train(config, workdir) -> tuple[WordVectors, dict, loop.Result]:
    """Trains as `config` says in `workdir`; returns the vectors, the results it wrote and the
    loop's result (final train state included).

    results: corpus words, vocabulary size, epochs, train_seconds (loop wall time, compilation
    included), words_per_second (corpus words x epochs / train_seconds), final loss and, on the
    planted corpus, cluster and analogy accuracy.
    """
    workdir = Path(workdir)
    sentences, planted = corpus_sentences(config.data)
    vocab = build_vocabulary(config.data, sentences)
    encoded = [vocab.encode(s) for s in sentences]
    task = build_task(config, vocab, encoded)
    start = time.perf_counter()
    result = loop.train(config, workdir, task)
    seconds = time.perf_counter() - start
    vectors = export_vectors(config, task.model, result.state.params, vocab)
    per_epoch = task.train_iterator(0, 1).num_examples(0)
    epochs = result.step * config.data.batch_size / per_epoch
    words = sum(len(s) for s in sentences)
    results = {
        "model": config.model_name,
        "architecture": config.model.architecture,
        "corpus": config.data.corpus,
        "corpus_words": words,
        "vocabulary_size": len(vocab),
        "steps": result.step,
        "epochs": epochs,
        "train_seconds": seconds,
        "words_per_second": words * epochs / seconds,
        "final_loss": result.metrics.get("train/loss"),
        **_scores(vectors, planted),
        "nearest": {
            w: [n for n, _ in vectors.most_similar([w], topn=5)] for w in PROBES if w in vectors
        },
    }
    if jax.process_index() == 0 and not result.preempted:
        vectors.save_word2vec_format(workdir / "vectors.txt")
        vocab.save(workdir / "vocabulary.json")
        rows = "\n".join(
            f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
            for k, v in results.items()
            if k != "nearest"
        )
        nearest = "\n".join(f"| {w} | {', '.join(n)} |" for w, n in results["nearest"].items())
        write_results(
            workdir,
            results,
            f"| quantity | value |\n|---|---|\n{rows}\n\n| word | nearest five |\n|---|---|\n"
            f"{nearest}\n",
        )
        title = f"{config.model_name} {config.model.architecture} on {config.data.corpus}"
        _plot(workdir, vectors, planted, title)
    return vectors, results, result


def main(config, workdir) -> dict:
    return train(config, workdir)[1]


if __name__ == "__main__":
    entry.run(main)
