"""Train GloVe word vectors with the one training loop: count co-occurrences once, then fit them.

  python -m experiments.train_glove --config=experiments/configs/embeddings/glove.py \\
      --workdir=runs/glove

Steps: tokenize the corpus (lowercased regex words, one sentence per document), build the vocabulary
(`data.min_count`, at most `model.vocab_size` words), count X once with 1/d weights in a symmetric
window (`research.embeddings.cooccurrence`, this process's row block, saved in the workdir so a
resumed run reads it instead of counting again), then train the model file `research/models/glove.py`
on shuffled batches of X's nonzeros with AdaGrad (`optimizer.name='adagrad'`, GloVe's lr 0.05 and
starting accumulator 1.0). The task is research/tasks/glove.py, the loss research/train/glove_loss.py
(`loss.x_max`, `loss.alpha`): 0.5 * the sum over the batch of f(X)(w.w~ + b + b~ - log X)^2, whose
gradient is glove.c's per-entry gradient summed; `train/loss` is its mean per entry, the "cost"
glove.c prints.

Workdir outputs: vectors.txt (W + W~ in word2vec text format, gensim loads it), vocabulary.json,
cooccurrence/ (the counted shard), results.json / results.md (scores, timings, neighbours) and
glove.png (loss curve, and a 2-D PCA of the planted words or the probe words' neighbourhoods).
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
from research.tasks import glove
from research.train.metrics import metric_curve

PROBES = ("file", "list", "thread", "socket", "string", "error", "integer", "directory")


def _pca_2d(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T


def _plot(path, workdir, vectors: WordVectors, planted, probes) -> None:
    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax_loss.plot(*metric_curve(workdir, "train/loss"))
    ax_loss.set(xlabel="step", ylabel="cost per nonzero", title="GloVe training cost")
    ax_loss.set_yscale("log")
    if planted is not None:
        words = [w for w in planted.cluster_of if w in vectors]
        xy = _pca_2d(np.stack([vectors.vector(w) for w in words]))
        colors = [planted.cluster_of[w] for w in words]
        ax_map.scatter(xy[:, 0], xy[:, 1], c=colors, cmap="tab10", s=14)
        ax_map.set_title("planted words, 2-D PCA (colour = planted cluster)")
    else:
        words = []
        for probe in probes:
            words += [probe] + [w for w, _ in vectors.most_similar(probe, topn=4)]
        words = list(dict.fromkeys(words))
        xy = _pca_2d(np.stack([vectors.vector(w) for w in words]))
        ax_map.scatter(xy[:, 0], xy[:, 1], s=10, c="tab:blue")
        for (x, y), word in zip(xy, words, strict=True):
            ax_map.annotate(word, (x, y), fontsize=7, weight="bold" if word in probes else None)
        ax_map.set_title("probe words and their 4 nearest neighbours, 2-D PCA")
    fig.tight_layout()
    save(fig, path, dpi=110)


def main(config, workdir) -> stages.StageResult:
    counts = glove.count_cooccurrences(config, workdir)
    vocab, planted, matrix = counts.vocab, counts.planted, counts.matrix
    start = time.perf_counter()
    result = stages.run("", config, workdir, glove.build_task(config, counts))  # the workdir itself
    timing = dict(count_seconds=counts.count_seconds, train_seconds=time.perf_counter() - start)
    vectors = glove.word_vectors(result.params, vocab)
    if jax.process_index() != 0:
        return result
    workdir = Path(workdir)
    vectors.save_word2vec_format(workdir / "vectors.txt")
    steps, batch = result.step, config.data.batch_size
    results = {
        "corpus": config.data.corpus,
        "vocabulary_size": len(vocab),
        "corpus_words_in_vocabulary": int(vocab.counts.sum()),
        "nonzeros": len(matrix) * jax.process_count(),
        "steps": steps,
        "epochs_over_nonzeros": steps * batch / max(len(matrix) * jax.process_count(), 1),
        "final_train_loss": result.metrics.get("train/loss"),
        # The last log interval's rate, and the whole run's (init, compilation, checkpoints too).
        "nonzeros_per_second": result.metrics.get("train/nonzeros_per_second"),
        "nonzeros_per_second_overall": steps * batch / max(timing["train_seconds"], 1e-9),
        **timing,
    }
    lines = [f"# GloVe on {config.data.corpus}", "", "| measure | value |", "|---|---|"]
    probes = [w for w in PROBES if w in vectors]
    if planted is not None:
        results["cluster_accuracy"] = evaluation.cluster_accuracy(vectors, planted.cluster_of)
        for method in ("add", "mul"):
            results[f"analogy_accuracy_{method}"] = evaluation.analogy_accuracy(
                vectors, planted.analogies, method=method
            )
    else:
        results["neighbours"] = {
            w: [(n, round(s, 3)) for n, s in vectors.most_similar(w, topn=5)] for w in probes
        }
    for key, value in results.items():
        if key != "neighbours":
            shown = f"{value:.4g}" if isinstance(value, float) else value
            lines.append(f"| {key} | {shown} |")
    for word, neighbours in results.get("neighbours", {}).items():
        lines.append(f"\n{word}: " + ", ".join(f"{n} ({s:.2f})" for n, s in neighbours))
    if write_results(workdir, results, "\n".join(lines)):
        _plot(workdir / "glove.png", workdir, vectors, planted, probes)
    return result


if __name__ == "__main__":
    entry.run(main)
