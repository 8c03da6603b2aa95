"""Benchmark: `TfidfVectorizer.fit_transform` (research.text) against scikit-learn's, same corpus, same run.

  python -m experiments.benchmarks.tfidf                          # pydoc topics x 60 (about 28 MB)
  python -m experiments.benchmarks.tfidf --repeat=120 --reps=7 --json_out=/tmp/tfidf.json
  python -m experiments.benchmarks.tfidf --ngram_max=2            # unigrams + bigrams

The corpus is the English text of Python's help topics (`pydoc_data.topics`, 79 documents, 465 KB
on Python 3.11) repeated --repeat times: a real text, tens of MB, offline. Both sides run
`fit_transform` with the same options; before any timing the outputs are checked equal (same
shape, same vocabulary, max |difference| of the matrices; scikit-learn's CSR does not keep its
column indices sorted, ours does, so the matrices are compared, not their index arrays). Each side
then runs --reps times alternately (so machine load hits both alike); min and median wall seconds,
the min CPU seconds of the process (all threads; steadier on a shared machine) and the ratios
scikit-learn / ours (> 1: ours is faster) are printed. A per-stage profile of our side
(CPU seconds: tokenize, n-grams, feature ids, vocabulary, pair counting; the rest of the whole call
is pruning, the JAX weighting and the CSR) shows where the time goes.
"""

import json
import statistics
import sys
import time
import types
from pydoc_data import topics

import jax
import numpy as np
from absl import app, flags

from research.text import bag_of_words as bow
from research.text import vectorizers


def corpus(repeat: int) -> list[str]:
    """pydoc topics (sorted by id) repeated `repeat` times."""
    docs = [text for _, text in sorted(topics.topics.items())]
    return docs * repeat


def _profile(documents: list[str], options: dict, reps: int = 3) -> dict[str, float]:
    """CPU seconds per stage of our `fit_transform` (min over `reps` runs), in pipeline order."""
    stages: dict[str, list[float]] = {}

    def timed(name, fn, *args):
        start = time.process_time()
        out = fn(*args)
        stages.setdefault(name, []).append(time.process_time() - start)
        return out

    for _ in range(reps):
        vec = vectorizers.TfidfVectorizer(**options)
        analysis = vec._analysis()
        tokens = timed("tokenize (preprocess, split, token ids)", bow.tokenize_corpus, documents,
                       *analysis[:3])  # fmt: skip
        groups = timed("n-grams", bow.feature_occurrences, *tokens, *analysis[3:])
        learned = {}
        rows, ids = timed("feature ids", bow.assign_ids, groups, learned, True)
        terms, new_id = timed("sorted vocabulary", bow.sorted_vocabulary, learned)
        rows, cols, counts = timed("count (doc, term) pairs", bow.count_pairs, rows, new_id[ids],
                                   len(documents), len(terms))  # fmt: skip
        timed("(whole fit_transform, for reference)", vec.fit_transform, documents)
    return {name: min(ts) for name, ts in stages.items()}


def run(repeat: int, reps: int, ngram_max: int = 1) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer as SkTfidf

    documents = corpus(repeat)
    options = dict(ngram_range=(1, ngram_max))
    megabytes = sum(map(len, documents)) / 1e6
    print(f"corpus: {len(documents)} documents, {megabytes:.1f} M characters; options {options}",
          flush=True)  # fmt: skip

    ours_vec, theirs_vec = vectorizers.TfidfVectorizer(**options), SkTfidf(**options)
    ours, theirs = ours_vec.fit_transform(documents), theirs_vec.fit_transform(documents)
    same_vocabulary = ours_vec.vocabulary_ == theirs_vec.vocabulary_
    max_diff = float(abs(ours - theirs).max()) if ours.shape == theirs.shape else float("inf")
    idf_diff = float(np.abs(ours_vec.idf_ - theirs_vec.idf_).max())
    print(f"check: shape {ours.shape}, nnz {ours.nnz}, same vocabulary {same_vocabulary}, "
          f"max |ours - sklearn| {max_diff:.2g}, max |idf diff| {idf_diff:.2g}", flush=True)  # fmt: skip
    if not same_vocabulary or max_diff > 1e-9:
        raise RuntimeError("our TfidfVectorizer disagrees with scikit-learn's; timings would lie.")

    times = {"sklearn": [], "ours": []}
    cpu_times = {"sklearn": [], "ours": []}
    for _ in range(reps):
        for name, make in (("sklearn", SkTfidf), ("ours", vectorizers.TfidfVectorizer)):
            start, start_cpu = time.perf_counter(), time.process_time()
            make(**options).fit_transform(documents)
            times[name].append(time.perf_counter() - start)
            cpu_times[name].append(time.process_time() - start_cpu)
    result = {"repeat": repeat, "documents": len(documents), "megachars": megabytes,
              "ngram_max": ngram_max, "nnz": int(ours.nnz), "features": ours.shape[1],
              "max_abs_diff": max_diff, "device": jax.devices()[0].device_kind}  # fmt: skip
    for name, ts in times.items():
        result[f"{name}_min_s"], result[f"{name}_median_s"] = min(ts), statistics.median(ts)
        print(f"{name:>8}: min {min(ts):.3f} s, median {statistics.median(ts):.3f} s over {reps} "
              f"runs ({megabytes / min(ts):.1f} M chars/s)", flush=True)  # fmt: skip
    for name, ts in cpu_times.items():
        result[f"{name}_cpu_min_s"] = min(ts)
    result["ratio_min"] = result["sklearn_min_s"] / result["ours_min_s"]
    # CPU seconds of the whole process (all threads): steadier than wall time on a shared machine.
    result["ratio_cpu_min"] = result["sklearn_cpu_min_s"] / result["ours_cpu_min_s"]
    result["ratio_median"] = result["sklearn_median_s"] / result["ours_median_s"]
    print(f"ratio sklearn / ours: {result['ratio_min']:.2f}x (min), {result['ratio_median']:.2f}x "
          f"(median); CPU time {result['ratio_cpu_min']:.2f}x (min: sklearn "
          f"{result['sklearn_cpu_min_s']:.3f} s, ours {result['ours_cpu_min_s']:.3f} s)",
          flush=True)  # fmt: skip
    result["profile_s"] = _profile(documents, options)
    for stage, seconds in result["profile_s"].items():
        print(f"  ours {stage}: {seconds:.3f} CPU s", flush=True)
    return result


def _define_flags():
    """The flags, defined when run as a script (not at import: the test imports this module)."""
    return types.SimpleNamespace(
        repeat=flags.DEFINE_integer("repeat", 60, "Copies of the pydoc topics in the corpus."),
        reps=flags.DEFINE_integer("reps", 5, "Timed fit_transform calls per side."),
        ngram_max=flags.DEFINE_integer("ngram_max", 1, "ngram_range=(1, ngram_max)."),
        json_out=flags.DEFINE_string("json_out", None, "Write the results as JSON to this path."),
    )


def main(argv, options):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {argv[1:]}.")
    result = run(options.repeat.value, options.reps.value, options.ngram_max.value)
    if options.json_out.value:
        with open(options.json_out.value, "w") as f:
            json.dump({"python": sys.version.split()[0], **result}, f, indent=2)


if __name__ == "__main__":
    _options = _define_flags()
    app.run(lambda argv: main(argv, _options))
