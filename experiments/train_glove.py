"""Train GloVe word vectors with the one training loop: count co-occurrences once, then fit them.

  python -m experiments.train_glove --config=experiments/configs/embeddings/glove.py \\
      --workdir=runs/glove

Steps: tokenize the corpus (lowercased regex words, one sentence per document), build the vocabulary
(`data.min_count`, at most `model.vocab_size` words), count X once with 1/d weights in a symmetric
window (`research.embeddings.cooccurrence`, this process's row block, saved in the workdir so a
resumed run reads it instead of counting again), then train the model file `research/models/glove.py`
on shuffled batches of X's nonzeros with AdaGrad (`optimizer.name='adagrad'`, GloVe's lr 0.05 and
starting accumulator 1.0). The step minimizes 0.5 * the sum over the batch of f(X)(w.w~ + b + b~ -
log X)^2, whose gradient is glove.c's per-entry gradient summed; `train/loss` is its mean per entry,
the "cost" glove.c prints.

Workdir outputs: vectors.txt (W + W~ in word2vec text format, gensim loads it), vocabulary.json,
cooccurrence/ (the counted shard), results.json / results.md (scores, timings, neighbours) and
glove.png (loss curve, and a 2-D PCA of the planted words or the probe words' neighbourhoods).

`train_vectors(config, workdir) -> WordVectors` is the reusable part (the comparison experiment
calls it); `main` adds the evaluation and the report.
"""

import hashlib
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from experiments import entry
from experiments.results import write_results
from research.data import array_pipeline, planted_embeddings, stdlib_docstrings
from research.embeddings import cooccurrence
from research.embeddings.vocabulary import Vocabulary
from research.embeddings.word_vectors import WordVectors
from research.models import glove
from research.text.regex_tokenizer import RegexTokenizer
from research.train import loop
from research.train.metrics import metric_curve
from research.train.task import Task

CORPORA = ("stdlib_docstrings", "planted")
PROBES = ("file", "list", "thread", "socket", "string", "error", "integer", "directory")


def load_sentences(data) -> tuple[list[list[str]], "planted_embeddings.PlantedCorpus | None"]:
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


def build_task(config, workdir):
    """(Task, vocabulary, planted corpus or None, this process's co-occurrence shard, seconds spent
    counting, 0 when the shard was read from the workdir)."""
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
    model = glove.make(**{**config.model.to_dict(), "vocab_size": len(vocab)})
    x_max, alpha = model.config.x_max, model.config.alpha

    def loss_fn(params, model_state, batch, rng, train):
        pred = model.apply({"params": params}, batch["rows"], batch["cols"])
        cost = 0.5 * glove.weighted_squared_error(pred, batch["counts"], x_max, alpha)
        total = cost.sum()
        return total, {"loss": (total, jnp.float32(cost.shape[0]))}, model_state

    def train_iterator(process_index, process_count):
        local = array_pipeline.local_batch_size(
            config.data.batch_size, process_index, process_count
        )
        return cooccurrence.train_iterator(matrix, batch_size=local, seed=config.seed)

    ids = np.zeros(1, np.int32)
    task = Task(
        model=model,
        init_inputs=(ids, ids),
        loss_fn=loss_fn,
        train_iterator=train_iterator,
        items_name="nonzeros",
    )
    return task, vocab, planted, matrix, count_seconds


def _train(config, workdir):
    task, vocab, planted, matrix, count_seconds = build_task(config, workdir)
    start = time.perf_counter()
    result = loop.train(config, workdir, task)
    train_seconds = time.perf_counter() - start
    vectors = WordVectors(vocab.words, glove.word_vectors(result.state.params, len(vocab)))
    if jax.process_index() == 0:
        vectors.save_word2vec_format(Path(workdir) / "vectors.txt")
    timing = dict(count_seconds=count_seconds, train_seconds=train_seconds)
    return result, vectors, vocab, planted, matrix, timing


def train_vectors(config, workdir) -> WordVectors:
    """Trains GloVe as `config` says in `workdir` (resuming a run there) and returns W + W~ for
    every vocabulary word; also writes vectors.txt and vocabulary.json into the workdir."""
    return _train(config, workdir)[1]


def _pca_2d(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T


def _plot(path, workdir, vectors: WordVectors, planted, probes) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(config, workdir) -> loop.Result:
    from research.embeddings import evaluation

    result, vectors, vocab, planted, matrix, timing = _train(config, workdir)
    if result.preempted or jax.process_index() != 0:
        return result
    workdir = Path(workdir)
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
