"""Train word2vec (skip-gram or CBOW) or FastText with negative sampling through the one loop.

  python -m experiments.train_word2vec --config=experiments/configs/embeddings/word2vec.py \
      --workdir=runs/word2vec
  python -m experiments.train_word2vec --config=experiments/configs/embeddings/fasttext.py \
      --workdir=runs/fasttext

`config.model_name` picks the model file ('word2vec' or 'fasttext'), `config.model.architecture`
skip-gram or CBOW. The task (corpus, vocabulary, tables, loss: every config key it reads) is
research/tasks/word2vec.py. The corpus (`config.data.corpus`): 'stdlib_docstrings' (the standard
library's docstrings, train split, one sentence per docstring, lowercased regex words) or 'planted'
(the synthetic corpus of `research.data.planted_embeddings`, scored by cluster and analogy accuracy).

Updates are the loop's plain SGD (`optimizer.name='sgd'`) with word2vec's linear decay from 0.025
towards 0.0001 on the SUM of the batch's per-pair losses: each pair moves the rows it touches as one
word2vec.c update would (all pairs of a batch at once), and untouched rows get a zero update.

The workdir gets, beside the loop's checkpoints and metrics: vectors.txt (word2vec text format,
gensim loads it), vocabulary.json, results.json / results.md, and word2vec.png (loss curve and a
2-D PCA of the vectors). `train` returns the vectors, the results dict and the stage's result.
"""

import time
from pathlib import Path

import jax
import numpy as np

from experiments import entry, stages
from experiments.figures import plt, save
from experiments.results import write_results
from research.embeddings import evaluation
from research.embeddings.word_vectors import WordVectors
from research.tasks import word2vec
from research.train.metrics import metric_curve

# Words whose nearest neighbours results.md lists (those in the vocabulary; planted: c0_r0, c1_r1).
PROBES = ("list", "file", "thread", "socket", "true", "encoding", "c0_r0", "c1_r1")


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
    save(fig, workdir / "word2vec.png")


def train(config, workdir) -> tuple[WordVectors, dict, stages.StageResult]:
    """Trains as `config` says in `workdir`; returns the vectors, the results it wrote and the
    stage's result (final parameters included).

    results: corpus words, vocabulary size, epochs, train_seconds (loop wall time, compilation
    included), words_per_second (corpus words x epochs / train_seconds), final loss and, on the
    planted corpus, cluster and analogy accuracy.
    """
    workdir = Path(workdir)
    corpus = word2vec.load_corpus(config.data)
    vocab, planted = corpus.vocab, corpus.planted
    task = word2vec.build_task(config, corpus)
    start = time.perf_counter()
    result = stages.run("", config, workdir, task)  # the workdir itself, as before stages
    seconds = time.perf_counter() - start
    vectors = word2vec.export_vectors(config, task.model, result.params, vocab)
    per_epoch = len(word2vec.epoch_examples(config, corpus)["targets"])
    epochs = result.step * config.data.batch_size / per_epoch
    words = sum(len(s) for s in corpus.sentences)
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
    if jax.process_index() == 0:
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
