"""Our word2vec, FastText and GloVe against gensim's Word2Vec and FastText, in one run.

  taskset -c 0 python -m experiments.embeddings_compare \\
      --config=experiments/configs/embeddings/compare.py --workdir=runs/embeddings_compare

Every method trains on the same corpus with the same settings (the config's `word2vec`, `fasttext`
and `glove` sections, those experiments' own configs: dimension, window, negatives, sample,
min_count, seed; FastText's n-gram range and buckets; gensim reads the word2vec and fasttext
sections), twice: on the real corpus (the train split of the standard library's docstrings, one
sentence per docstring, lowercased regex words) and on the planted corpus
(`research.data.planted_embeddings`). Ours are stages of this experiment on the one loop
(`research.tasks.word_vectors.prepare`: the task of research/tasks/word2vec.py or glove.py, built
once, `epochs` passes), gensim's with `workers=1`; `taskset -c 0` pins the whole process, so each
method has one core.

Speed: training words/s = corpus words (before subsampling) x epochs / training seconds, and its
ratio to gensim's same method (ours word2vec / gensim Word2Vec, ours FastText / gensim FastText).
Training seconds: gensim's `train()` call; ours the loop's training time from its metrics.jsonl
(the sum of seconds_per_step over its log intervals: compilation included, checkpoint saves not).
Also reported, end to end ("wall s"): gensim's build_vocab + train, ours the whole run
(tokenizing, vocabulary, example tables, loop, exporting and writing vectors.txt). Ours train a
whole number of batches, so their epochs are steps x batch / examples per epoch
(`epochs` rounded up to a batch). GloVe has no gensim peer: it makes `glove_epochs` passes over
the nonzero co-occurrences, counted once before (count s: the counting alone, not in its training
seconds).

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
the stage `<workdir>/runs/<corpus>_<method>/` (with its vectors.txt). Timings need fresh runs: a
workdir that already holds them is refused rather than resumed.
"""

import collections
import json
import os
import time
from pathlib import Path

import jax
import numpy as np
from absl import logging

from experiments import entry, stages
from experiments.figures import plt, save
from experiments.results import write_results
from research.data import planted_embeddings, stdlib_docstrings
from research.embeddings import evaluation
from research.embeddings.word_vectors import WordVectors
from research.tasks import word_vectors
from research.text.regex_tokenizer import RegexTokenizer
from research.train.metrics import records_with

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


def train_gensim(method: str, sentences, section, epochs: float) -> tuple[WordVectors, dict]:
    """gensim's skip-gram Word2Vec or FastText with our `section`'s settings, one worker thread."""
    import gensim  # the peer: in the 'reference' extra

    cfg, data = section.model, section.data
    options = dict(
        vector_size=cfg.embed_dim, window=data.window, min_count=data.min_count, sg=1, hs=0,
        negative=data.negative, sample=data.sample, seed=section.seed, workers=1, alpha=0.025,
        min_alpha=0.0001,
    )  # fmt: skip
    if method == "gensim_fasttext":
        options.update(min_n=cfg.min_n, max_n=cfg.max_n, bucket=cfg.num_buckets)
        model = gensim.models.FastText(**options)
    else:
        model = gensim.models.Word2Vec(**options)
    epochs = max(1, round(epochs))  # gensim trains whole epochs only
    start = time.perf_counter()
    model.build_vocab(sentences)
    between = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=epochs)
    end = time.perf_counter()
    info = {"train_seconds": end - between, "wall_seconds": end - start, "epochs": epochs}
    return _gensim_vectors(model), info


def loop_seconds(workdir: Path) -> float:
    """The loop's training time from its metrics: the sum over log intervals of steps x
    seconds_per_step (compilation in the first interval; checkpoint saves not counted)."""
    records = records_with(workdir, "train/seconds_per_step")
    total, previous = 0.0, 0
    for record in records:
        total += (record["step"] - previous) * record["train/seconds_per_step"]
        previous = record["step"]
    return total


def train_ours(method: str, corpus: str, config, runs: Path) -> tuple[WordVectors, dict]:
    """Our `method` on `corpus` as the stage `<runs>/<corpus>_<method>/`."""
    name = f"{corpus}_{method}"
    start = time.perf_counter()
    epochs = config.glove_epochs if method == "glove" else config.epochs
    run = word_vectors.prepare(
        config[method], runs / name, corpus=corpus, epochs=epochs,
        batch_pairs=config.fasttext_batch_pairs,
    )  # fmt: skip
    result = stages.run(name, run.config, runs, run.task)
    vectors = run.vectors(result.params)
    if jax.process_index() == 0:
        vectors.save_word2vec_format(result.workdir / "vectors.txt")
    batch_size = run.config.data.batch_size
    return vectors, {
        "train_seconds": loop_seconds(result.workdir),
        "wall_seconds": time.perf_counter() - start,
        "steps": result.step,
        "batch_size": batch_size,
        "epochs": result.step * batch_size / run.examples_per_epoch,
        **run.info,
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
    save(fig, path)


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
    sentences, packages = real_corpus(config.data_dir)
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
                section = config[method.removeprefix("gensim_")]
                vectors, info = train_gensim(
                    method, corpus_sentences[corpus], section, config.epochs
                )
            else:
                vectors, info = train_ours(method, corpus, config, runs)
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
        "settings": {k: config[k] for k in ("epochs", "glove_epochs", "fasttext_batch_pairs")},
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
