"""Our word2vec, FastText and GloVe against gensim's Word2Vec and FastText, same settings, one run.

Sections: `word2vec`, `fasttext` and `glove` are those experiments' own configs (word2vec.py,
fasttext.py, glove.py) set to the shared settings below, so every key is a flag
(--config.word2vec.data.window=8, --config.glove.loss.x_max=50); gensim's Word2Vec reads the
`word2vec` section's settings and its FastText the `fasttext` section's. `epochs` (ours and gensim's
skip-gram methods; gensim rounds to whole epochs) and `glove_epochs` set each run's number of steps
from its corpus; `fasttext_batch_pairs` sets FastText's batch of centers (see
research/tasks/word_vectors.py). `data_dir` is one value shared by every section.

Run (one core for everything: `taskset` pins the process; gensim runs with workers=1):
  taskset -c 0 python -m experiments.embeddings_compare \
      --config=experiments/configs/embeddings/compare.py --workdir=runs/embeddings_compare
Smoke mode (what the tests run): append `:smoke` (8 dimensions, 2% of an epoch for ours and one
epoch for gensim, 2,000 buckets, batches of 256, 2 steps per call; the corpora and checks as in the
full run).

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

from experiments.configs.common import parse_arg
from experiments.configs.embeddings import fasttext, glove, word2vec


def methods_config(smoke: bool, data_dir) -> ml_collections.ConfigDict:
    """Our three methods' configs on the comparison's settings, and the epochs they train (also
    the text-classification experiment's `embeddings` section). data_dir: a placeholder that every
    section's `data.data_dir` shares."""
    config = ml_collections.ConfigDict()
    config.epochs = 0.02 if smoke else 5.0  # float: the smoke run trains a fraction of an epoch
    config.glove_epochs = 0.02 if smoke else 25.0
    config.fasttext_batch_pairs = 256 if smoke else 1024
    for name, module in (("word2vec", word2vec), ("fasttext", fasttext), ("glove", glove)):
        section = module.get_config()  # the full run's settings, then the comparison's
        section.model.embed_dim = 8 if smoke else 100
        section.data.data_dir = data_dir
        section.data.batch_size = 256 if smoke else 1024  # FastText's: from fasttext_batch_pairs
        section.steps_per_call = 2 if smoke else 16  # optimizer steps per jitted call
        config[name] = section
    config.glove.data.window = 5  # word2vec's (GloVe's own default is 10)
    config.fasttext.model.num_buckets = 2000 if smoke else 100_000
    return config


def get_config(arg: str | None = None):
    smoke = parse_arg(arg)
    data_dir = placeholder(str)  # TFDS data directory of stdlib_docstrings; None = default
    config = methods_config(smoke, data_dir)
    config.data_dir = data_dir
    config.methods = "word2vec,fasttext,glove,gensim_word2vec,gensim_fasttext"
    config.corpora = "stdlib_docstrings,planted"  # one of them: a run per corpus, in parallel
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
    return config
