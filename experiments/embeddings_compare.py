"""Our word2vec, FastText and GloVe against gensim's Word2Vec and FastText, in one run.

  taskset -c 0 python -m experiments.embeddings_compare \\
      --config=experiments/configs/embeddings/compare.py --workdir=runs/embeddings_compare

Every method trains on the same corpus with the same settings (`config.settings`: dimension,
window, negatives, sample, min_count, epochs, seed; FastText's n-gram range and buckets), twice:
on the real corpus (the train split of the standard library's docstrings, one sentence per
docstring, lowercased regex words) and on the planted corpus (`research.data.planted_embeddings`).
Ours run through the one loop (experiments/train_word2vec.py and train_glove.py, `train_vectors`),
gensim's with `workers=1`; `taskset -c 0` pins the whole process, so each method has one core.

Speed: training words/s = corpus words (before subsampling) x epochs / training seconds, and its
ratio to gensim's same method (ours word2vec / gensim Word2Vec, ours FastText / gensim FastText).
Training seconds: gensim's `train()` call; ours the loop's training time from its metrics.jsonl
(the sum of seconds_per_step over its log intervals: compilation included, checkpoint saves not).
Also reported, end to end ("wall s"): gensim's build_vocab + train, ours the whole
`train_vectors` call (tokenizing, vocabulary, example tables, loop, writing vectors.txt and the
plot). Ours train a whole number of batches, so their epochs are steps x batch / examples per epoch
(`epochs` rounded up to a batch). GloVe has no gensim peer: it makes `glove_epochs` passes over
the nonzero co-occurrences, counted once before (count s, not in its training seconds).

Quality, the same checks for every model (words outside a model's vocabulary count as misses):
- package cluster accuracy: words whose occurrences fall mostly (>= `package_purity`) in the
  docstrings of one standard-library package, seen at least `package_min_count` times, at most
  `package_words` per package, packages with at least `package_min_words` such words; the share of
  them whose nearest such word belongs to the same package. Labels come from the docstrings' package
  metadata, which training never sees.
- package-profile Spearman: `num_pairs` random pairs of the `profile_words` most frequent words
  (after the first `profile_skip`), scored by the cosine of the two words' count vectors over
  packages; Spearman's rho between that and the embeddings' cosine.
- planted: cluster accuracy and analogy accuracy (3CosAdd and 3CosMul) on the planted corpus.

Writes results.json, results.md (tables, nearest neighbours of probe words) and
embeddings_compare.png (speed and quality side by side) into the workdir; each model's own run is
in `<workdir>/runs/<corpus>_<method>/`. Timings need fresh runs: a workdir that already holds them
is refused rather than resumed.
"""

import collections
import json
import math
import os
import time
from pathlib import Path

import jax
import matplotlib
import numpy as np
from absl import logging

from experiments import entry, train_glove, train_word2vec
from experiments.configs.embeddings import fasttext as fasttext_config
from experiments.configs.embeddings import glove as glove_config
from experiments.configs.embeddings import word2vec as word2vec_config
from experiments.results import write_results
from research.data import planted_embeddings, stdlib_docstrings
from research.embeddings import evaluation
from research.embeddings.word_vectors import WordVectors
from research.text.regex_tokenizer import RegexTokenizer
from research.train.metrics import records_with

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

METHODS = ("word2vec", "fasttext", "glove", "gensim_word2vec", "gensim_fasttext")
PEER = {"word2vec": "gensim_word2vec", "fasttext": "gensim_fasttext"}
CORPORA = ("stdlib_docstrings", "planted")


# ----------------------------------------------------------------------------- corpus and checks


def real_corpus(data_dir) -> tuple[list[list[str]], list[str]]:
    """(sentences, package of each): the train split's docstrings as lowercased regex words."""
    texts, packages = stdlib_docstrings.load_examples("train", data_dir)
    tokenizer = RegexTokenizer(lowercase=True)
    return [tokenizer(t) for t in texts], packages


def _package_counts(sentences, packages, words) -> np.ndarray:
    """float64 [W, P]: occurrences of each of `words` in the docstrings of each package."""
    names = sorted(set(packages))
    column = {p: i for i, p in enumerate(names)}
    row = {w: i for i, w in enumerate(words)}
    counts = np.zeros((len(words), len(names)))
    for sentence, package in zip(sentences, packages, strict=True):
        for word, n in collections.Counter(sentence).items():
            if word in row:
                counts[row[word], column[package]] += n
    return counts


def package_clusters(sentences, packages, checks) -> dict[str, int]:
    """word -> package id for the package-distinctive words (see the module docstring)."""
    totals = collections.Counter(w for s in sentences for w in s)
    words = sorted(w for w, c in totals.items() if c >= checks.package_min_count)
    counts = _package_counts(sentences, packages, words)
    share = counts.max(axis=1) / counts.sum(axis=1)
    by_package = collections.defaultdict(list)
    for i in np.flatnonzero(share >= checks.package_purity):
        by_package[int(counts[i].argmax())].append(words[i])
    labels = {}
    for package, members in sorted(by_package.items()):
        if len(members) >= checks.package_min_words:
            members.sort(key=lambda w: (-totals[w], w))
            labels.update({w: package for w in members[: checks.package_words]})
    return labels


def package_profile_pairs(sentences, packages, checks) -> list[tuple[str, str, float]]:
    """`num_pairs` (a, b, cosine of their package-count vectors) among frequent words."""
    totals = collections.Counter(w for s in sentences for w in s)
    ranked = sorted(totals, key=lambda w: (-totals[w], w))
    words = ranked[checks.profile_skip : checks.profile_skip + checks.profile_words]
    counts = _package_counts(sentences, packages, words)
    unit = counts / np.linalg.norm(counts, axis=1, keepdims=True)
    rng = np.random.default_rng(checks.seed)
    pairs = set()
    while len(pairs) < min(checks.num_pairs, len(words) * (len(words) - 1) // 2):
        a, b = sorted(rng.choice(len(words), size=2, replace=False).tolist())
        pairs.add((a, b))
    return [(words[a], words[b], float(unit[a] @ unit[b])) for a, b in sorted(pairs)]


# ----------------------------------------------------------------------------- training


def _gensim_vectors(model) -> WordVectors:
    wv = model.wv
    if hasattr(wv, "buckets_word"):  # FastText: unseen words from their n-grams, as gensim does
        return WordVectors(wv.index_to_key, wv.vectors, oov_vector=wv.get_vector)
    return WordVectors(wv.index_to_key, wv.vectors)


def train_gensim(method: str, sentences, s) -> tuple[WordVectors, dict]:
    """gensim's skip-gram Word2Vec or FastText with `s` (the settings), one worker thread."""
    import gensim  # the peer: in the 'reference' extra

    options = dict(
        vector_size=s.dim, window=s.window, min_count=s.min_count, sg=1, hs=0,
        negative=s.negative, sample=s.sample, seed=s.seed, workers=1, alpha=0.025,
        min_alpha=0.0001,
    )  # fmt: skip
    if method == "gensim_fasttext":
        options.update(min_n=s.min_n, max_n=s.max_n, bucket=s.num_buckets)
        model = gensim.models.FastText(**options)
    else:
        model = gensim.models.Word2Vec(**options)
    epochs = max(1, round(s.epochs))  # gensim trains whole epochs only
    start = time.perf_counter()
    model.build_vocab(sentences)
    between = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=epochs)
    end = time.perf_counter()
    info = {"train_seconds": end - between, "wall_seconds": end - start, "epochs": epochs}
    return _gensim_vectors(model), info


def _word2vec_config(method: str, corpus: str, s, data_dir):
    """(config of train_word2vec for `s`, examples per epoch as the run's own iterator makes them)."""
    config = (fasttext_config if method == "fasttext" else word2vec_config).get_config()
    config.seed = s.seed
    config.model.embed_dim = s.dim
    if method == "fasttext":
        config.model.min_n, config.model.max_n = s.min_n, s.max_n
        config.model.num_buckets = s.num_buckets
    config.data.corpus = corpus
    config.data.data_dir = data_dir
    config.data.planted_seed = 0
    config.data.min_count = s.min_count
    config.data.window = s.window
    config.data.negative = s.negative
    config.data.sample = s.sample
    config.data.batch_size = s.batch_size
    sentences, _ = train_word2vec.corpus_sentences(config.data)
    vocab = train_word2vec.build_vocabulary(config.data, sentences)
    task = train_word2vec.build_task(config, vocab, [vocab.encode(x) for x in sentences])
    examples = task.train_iterator(0, 1).examples(0)
    per_epoch = len(examples["targets"])  # pairs, or centers for FastText's grouped windows
    if config.data.skipgram_windows:
        # A batch of FastText centers holds about s.batch_size pairs, as word2vec's batch does:
        # batches of s.batch_size centers (~5.6x the pairs) sum so many updates into the n-gram
        # rows that all planted words share that the run diverged.
        pairs_per_center = examples["mask"].sum() / per_epoch
        # A multiple of 8, so that it splits over up to 8 data-parallel devices.
        config.data.batch_size = max(8, 8 * round(s.batch_size / pairs_per_center / 8))
    _set_steps(config, s, s.epochs * per_epoch / config.data.batch_size)
    return config, per_epoch


def _glove_config(corpus: str, s, data_dir, workdir):
    """(config of train_glove for `s`, nonzeros of X, seconds the one-off count took)."""
    config = glove_config.get_config()
    config.seed = s.seed
    config.model.embed_dim = s.dim
    config.data.corpus = corpus
    config.data.data_dir = data_dir
    config.data.min_count = s.min_count
    config.data.window = s.window
    config.data.batch_size = s.batch_size
    # Counting happens here, once (timed apart); train_vectors then reads the saved shard.
    start = time.perf_counter()
    _, _, _, matrix, _ = train_glove.build_task(config, workdir)
    count_seconds = time.perf_counter() - start
    _set_steps(config, s, s.glove_epochs * len(matrix) / s.batch_size)
    return config, len(matrix), count_seconds


def _set_steps(config, s, steps: float) -> None:
    """`steps` rounded up to whole calls of s.steps_per_call steps; about 10 log lines."""
    per_call = s.steps_per_call
    calls = max(1, math.ceil(steps / per_call))
    config.steps_per_call = per_call
    config.num_train_steps = calls * per_call
    config.log_every_steps = max(1, calls // 10) * per_call
    config.eval_every_steps = config.num_train_steps
    config.checkpoint_every_steps = config.num_train_steps  # one save, at the end


def loop_seconds(workdir: Path) -> float:
    """The loop's training time from its metrics: the sum over log intervals of steps x
    seconds_per_step (compilation in the first interval; checkpoint saves not counted)."""
    records = records_with(workdir, "train/seconds_per_step")
    total, previous = 0.0, 0
    for record in records:
        total += (record["step"] - previous) * record["train/seconds_per_step"]
        previous = record["step"]
    return total


def train_ours(method: str, corpus: str, s, data_dir, workdir: Path) -> tuple[WordVectors, dict]:
    """Our `method` through its experiment's `train_vectors(config, workdir)` in `workdir`."""
    workdir = Path(workdir)
    if method == "glove":
        config, nonzeros, count_seconds = _glove_config(corpus, s, data_dir, workdir)
        per_epoch, train_vectors = nonzeros, train_glove.train_vectors
        extra = {"nonzeros": nonzeros, "count_seconds": count_seconds}
    else:
        config, per_epoch = _word2vec_config(method, corpus, s, data_dir)
        train_vectors, extra = train_word2vec.train_vectors, {"examples_per_epoch": per_epoch}
    start = time.perf_counter()
    vectors = train_vectors(config, workdir)
    wall = time.perf_counter() - start
    steps = config.num_train_steps
    return vectors, {
        "train_seconds": loop_seconds(workdir),
        "wall_seconds": wall,
        "steps": steps,
        "batch_size": config.data.batch_size,
        "epochs": steps * config.data.batch_size / per_epoch,
        **extra,
    }


# ----------------------------------------------------------------------------- scores and report


def scores(vectors: WordVectors, checks: dict) -> dict:
    if "planted" in checks:
        planted = checks["planted"]
        return {
            "cluster_accuracy": evaluation.cluster_accuracy(vectors, planted.cluster_of),
            "analogy_add": evaluation.analogy_accuracy(vectors, planted.analogies, "add"),
            "analogy_mul": evaluation.analogy_accuracy(vectors, planted.analogies, "mul"),
        }
    return {
        "package_cluster_accuracy": evaluation.cluster_accuracy(vectors, checks["clusters"]),
        "package_profile_spearman": evaluation.similarity_correlation(vectors, checks["pairs"]),
    }


def neighbours(vectors: WordVectors, probes, topn: int = 5) -> dict[str, list[str]]:
    return {p: [w for w, _ in vectors.most_similar(p, topn=topn)] for p in probes if p in vectors}


def _fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"


# A corpus left out of `config.corpora` shows '-' in the table.
_EMPTY_REAL = dict.fromkeys(
    ["vocabulary_size", "epochs", "train_seconds", "wall_seconds", "words_per_second"]
    + ["package_cluster_accuracy", "package_profile_spearman"]
)
_EMPTY_PLANTED = dict.fromkeys(["cluster_accuracy", "analogy_add", "analogy_mul"])


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def results_markdown(results: dict) -> str:
    real = results["rows"].get("stdlib_docstrings", {})
    planted = results["rows"].get("planted", {})
    lines = [
        f"Settings: {json.dumps(results['settings'])}; CPU cores available: {results['cpu_cores']}.",
        f"Real corpus: {results['corpus_words']:,} words; package check: "
        f"{results['package_words']} words in {results['packages']} packages; profile check: "
        f"{results['num_pairs']} pairs.",
        "",
        "| method | vocab | epochs | train s | wall s | words/s | vs gensim | package cluster acc "
        "| package-profile rho | planted cluster acc | planted analogy add | planted analogy mul |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method in results["methods"]:
        r, p = real.get(method, _EMPTY_REAL), planted.get(method, _EMPTY_PLANTED)
        lines.append(
            f"| {method} | {r['vocabulary_size'] or '-'} | {_fmt(r['epochs'], 2)} | "
            f"{_fmt(r['train_seconds'], 1)} | {_fmt(r['wall_seconds'], 1)} | "
            f"{_fmt(r['words_per_second'])} | "
            f"{_ratio(r.get('speed_ratio'))} | {_fmt(r['package_cluster_accuracy'])} | "
            f"{_fmt(r['package_profile_spearman'])} | {_fmt(p['cluster_accuracy'])} | "
            f"{_fmt(p['analogy_add'])} | {_fmt(p['analogy_mul'])} |"
        )
    lines += ["", "Nearest neighbours on the real corpus:", ""]
    lines += ["| method | " + " | ".join(results["probes"]) + " |"]
    lines += ["|---|" + "---|" * len(results["probes"])]
    for method in real:
        near = real[method]["neighbours"]
        cells = [", ".join(near.get(p, ["(not in vocabulary)"])[:4]) for p in results["probes"]]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    methods = results["methods"]
    real = results["rows"].get("stdlib_docstrings", {})
    planted = results["rows"].get("planted", {})
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    speed = [real.get(m, _EMPTY_REAL)["words_per_second"] or np.nan for m in methods]
    left.barh(
        methods, speed, color=["tab:blue" if "gensim" not in m else "tab:gray" for m in methods]
    )
    left.set(xscale="log", xlabel="training words/s (one core, log scale)", title="Speed")
    left.invert_yaxis()
    metrics = [
        ("package cluster acc", real, "package_cluster_accuracy"),
        ("package-profile rho", real, "package_profile_spearman"),
        ("planted cluster acc", planted, "cluster_accuracy"),
        ("planted analogy add", planted, "analogy_add"),
        ("planted analogy mul", planted, "analogy_mul"),
    ]
    width = 0.8 / len(methods)
    x = np.arange(len(metrics))
    for i, m in enumerate(methods):
        values = [rows[m][key] if m in rows else np.nan for _, rows, key in metrics]
        right.bar(x + i * width, values, width, label=m)
    right.set_xticks(x + 0.4 - width / 2, [name for name, _, _ in metrics], fontsize=8)
    right.set(ylim=(0, 1.05), title="Quality (same checks for every method)")
    right.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- main


def main(config, workdir) -> dict:
    workdir = Path(workdir)
    runs = workdir / "runs"
    if runs.exists() and any(runs.iterdir()):
        raise ValueError(
            f"{runs} already holds training runs, and resumed runs would give no timings; "
            "pass a new --workdir."
        )
    methods = [m.strip() for m in config.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise ValueError(
            f"--config.methods={config.methods!r} names {unknown or 'no method'}; use a comma "
            f"list of {', '.join(METHODS)}."
        )
    corpora = [c.strip() for c in config.corpora.split(",") if c.strip()]
    if not corpora or set(corpora) - set(CORPORA):
        raise ValueError(
            f"--config.corpora={config.corpora!r} must be a comma list of {', '.join(CORPORA)}."
        )
    s, data_dir = config.settings, config.data_dir
    sentences, packages = real_corpus(data_dir)
    planted = planted_embeddings.planted_corpus(seed=0)
    checks = {
        "stdlib_docstrings": {
            "clusters": package_clusters(sentences, packages, config.checks),
            "pairs": package_profile_pairs(sentences, packages, config.checks),
        },
        "planted": {"planted": planted},
    }
    corpus_sentences = {"stdlib_docstrings": sentences, "planted": planted.sentences}
    probes = [p.strip() for p in config.probes.split(",") if p.strip()]
    rows = {corpus: {} for corpus in corpora}
    for corpus in corpora:
        words = sum(len(x) for x in corpus_sentences[corpus])
        for method in methods:
            logging.info("embeddings_compare: %s on %s", method, corpus)
            if method.startswith("gensim"):
                vectors, info = train_gensim(method, corpus_sentences[corpus], s)
            else:
                run_dir = runs / f"{corpus}_{method}"
                vectors, info = train_ours(method, corpus, s, data_dir, run_dir)
            row = {
                "vocabulary_size": len(vectors),
                **info,
                "words_per_second": words * info["epochs"] / info["train_seconds"],
                **scores(vectors, checks[corpus]),
            }
            if corpus == "stdlib_docstrings":
                row["neighbours"] = neighbours(vectors, probes)
            rows[corpus][method] = row
            logging.info("embeddings_compare: %s %s %s", method, corpus, json.dumps(row))
        for method, peer in PEER.items():
            if method in rows[corpus] and peer in rows[corpus]:
                ratio = (
                    rows[corpus][method]["words_per_second"]
                    / rows[corpus][peer]["words_per_second"]
                )
                rows[corpus][method]["speed_ratio"] = ratio
    results = {
        "settings": s.to_dict(),
        "methods": methods,
        "corpora": corpora,
        "cpu_cores": len(os.sched_getaffinity(0)),
        "jax_backend": jax.default_backend(),
        "corpus_words": sum(len(x) for x in sentences),
        "package_words": len(checks["stdlib_docstrings"]["clusters"]),
        "packages": len(set(checks["stdlib_docstrings"]["clusters"].values())),
        "num_pairs": len(checks["stdlib_docstrings"]["pairs"]),
        "probes": probes,
        "rows": rows,
    }
    table = results_markdown(results)
    if write_results(workdir, results, table, title="embeddings_compare results"):
        plot(results, workdir / "embeddings_compare.png")
    return results


if __name__ == "__main__":
    entry.run(main)
