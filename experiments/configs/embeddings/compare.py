"""Our word2vec, FastText and GloVe against gensim's Word2Vec and FastText, same settings, one run
(a standalone analysis script: it calls the embedding experiments' `train_vectors`).

Run (one core for everything: `taskset` pins the process; gensim runs with workers=1):
  taskset -c 0 python -m experiments.embeddings_compare \
      --config=experiments/configs/embeddings/compare.py --workdir=runs/embeddings_compare
Smoke mode (what the tests run): append `:smoke` (8 dimensions, 2% of an epoch for ours and one
epoch for gensim, 2,000 buckets; the corpora and checks as in the full run).

Settings: skip-gram, 100 dimensions, window 5, 5 negatives, sample 1e-3, min_count 5, 5 epochs,
seed 0; FastText n-grams 3..6 in 100,000 buckets (both sides). Ours in batches of about 1024 pairs:
word2vec 1024 pairs a step; FastText groups pairs by center word, so its batch is the number of
centers that hold about 1024 pairs (184 on the docstrings, 248 on the planted corpus; a batch of 1024
centers, ~5.6K pairs, summed so many updates into the n-gram rows every planted word shares that it
diverged). GloVe: same dimension, window and min_count, 25 passes over the nonzero co-occurrences.

Measured 2026-11-27 (CPython 3.11.7, jax 0.10.2 CPU, a 2-core AMD EPYC at load ~2, ours with 16
steps per jitted call; the two corpora as two runs in parallel, --config.corpora=stdlib_docstrings
pinned to core 0 and --config.corpora=planted to core 1). Real corpus: 161,763 words, vocabulary
2,852; package check 121 words in 20 packages; 2,000 profile pairs. Real run about 2 min in all.

  method           train s  words/s  vs gensim  package  profile  planted: cluster  add    mul
  word2vec             5.0  163,308  0.357        0.603    0.308            1.000  0.994  1.000
  fasttext            24.9   32,533  0.146        0.612    0.318            1.000  0.999  1.000
  glove               12.8  315,498  -            0.306    0.208            1.000  1.000  1.000
  gensim_word2vec      1.8  457,188  -            0.579    0.213            1.000  0.989  0.999
  gensim_fasttext      3.6  223,573  -            0.446    0.154            1.000  1.000  1.000

With one step per jitted call (steps_per_call=1, the same updates) word2vec ran at 0.231x and
FastText at 0.094x, GloVe in 21.8 s (2026-11-26, load ~1).

GloVe: 25 passes over 369,442 nonzeros (counted once in 0.4 s); its words/s is corpus words x 25
/ train s, not comparable to the skip-gram rows. Ours: batched SGD through the loop (compilation in
the time), word2vec at a third of gensim's speed, FastText at a seventh. Quality: ours at or above gensim's on the derived checks (one
seed each; 121 labelled words, so 0.02 is about 2 words), and every method recovers the planted
clusters and analogies (the planted corpus's 5% noise words are what lets GloVe, which fits only
nonzero counts, separate clusters from roles: without them it scored cluster accuracy 0).
"""

import ml_collections
from ml_collections.config_dict import placeholder


def get_config(arg: str | None = None):
    if arg not in (None, "smoke"):
        raise ValueError(f"Unknown config argument {arg!r}; use ':smoke' or nothing.")
    config = ml_collections.ConfigDict()
    config.data_dir = placeholder(str)  # TFDS data directory of stdlib_docstrings; None = default
    config.methods = "word2vec,fasttext,glove,gensim_word2vec,gensim_fasttext"
    config.corpora = "stdlib_docstrings,planted"  # one of them: a run per corpus, in parallel
    config.settings = dict(
        dim=100,
        window=5,
        negative=5,
        sample=1e-3,
        min_count=5,
        epochs=5.0,  # float: the smoke run trains a fraction of an epoch
        glove_epochs=25.0,
        min_n=3,
        max_n=6,
        num_buckets=100_000,
        batch_size=1024,
        steps_per_call=16,  # optimizer steps per jitted call (the loop's steps_per_call)
        seed=0,
    )
    config.checks = dict(
        package_min_count=10,  # a labelled word occurs at least this often
        package_purity=0.8,  # ... with at least this share of its occurrences in one package
        package_words=10,  # at most this many words per package (the most frequent)
        package_min_words=3,  # packages with fewer distinctive words are left out
        profile_skip=50,  # the profile pairs skip the most frequent (function) words
        profile_words=500,
        num_pairs=2000,
        seed=0,
    )
    config.probes = "file,list,thread,socket,string,error,integer,directory"
    if arg == "smoke":
        config.settings.dim = 8
        config.settings.epochs = 0.02  # gensim needs whole epochs: its smoke runs one
        config.settings.glove_epochs = 0.02
        config.settings.num_buckets = 2000
        config.settings.batch_size = 256
        config.settings.steps_per_call = 2
    return config
