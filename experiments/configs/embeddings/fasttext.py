"""FastText skip-gram (character n-grams 3..6 hashed into gensim's 2,000,000 buckets) on the standard
library's docstrings.

Run:
  python -m experiments.train_word2vec --config=experiments/configs/embeddings/fasttext.py \
      --workdir=runs/fasttext
Smoke mode: append `:smoke` (the planted corpus, 50 steps of 768 centers, 16 dimensions).

Settings: word2vec's (see word2vec.py: dim 100, window 5, 5 negatives, sample 1e-3, min_count 5,
SGD 0.025 -> 0.0001) plus min_n 3, max_n 6, bucket 2,000,000 (gensim's defaults; the bucket ids
are gensim's). Skip-gram pairs come grouped by center word (`data.skipgram_windows`): a batch of
192 centers holds about 1060 pairs, and 2960 steps are 5 epochs. The n-gram table has a row only
for the 21,174 buckets the vocabulary uses (see research/models/fasttext.py).
CBOW (--config.model.architecture=cbow --config.data.batch_size=512 --config.num_train_steps=1110,
5 epochs) needs smaller batches than word2vec's: at 4096 windows a batch sums so many updates into
the shared n-gram rows that it diverged on the planted corpus. It is slow: every window averages
10 context words of up to 79 padded n-gram rows each; measured 438 s (1.9K words/s, loss 2.601,
weaker neighbours: list -> lines, string, strings, linesep, lists).

Measured (2-core AMD EPYC CPU shared with other jobs, load average 12 to 14; one XLA device):
2960 steps = 5.0 epochs, loss 2.462, 59.1 s in the loop = 13.8K corpus words/s; gensim 4.4
FastText with the same settings (workers=1) right after in the same script: 65.2K words/s (12.4 s),
ratio 0.21. (Before the compact table and the grouping by center: 742 s.)
Nearest (the same kind gensim's FastText gives here): list -> lists, tuples, plist, tokenlist;
file -> fileno, zipfile, tarfile, fileobj; socket -> sockets, sock, connect, sock_stream;
encoding -> encodings, decoding, body_encoding, encoder.
Planted corpus, :smoke (tables sharded over tensor=2 in the test): nearest-neighbour cluster
accuracy 1.0, analogy accuracy (3CosAdd) 0.72 after 50 steps.
"""

from experiments.configs.common import parse_arg
from experiments.configs.embeddings.word2vec import word2vec_config


def get_config(arg: str | None = None):
    smoke = parse_arg(arg)
    config = word2vec_config("fasttext", "skipgram", arg)
    # Skip-gram pairs grouped by center (its n-gram average computed once for its ~5.5 pairs):
    # 192 centers hold about 1060 pairs, word2vec's 1024; 2960 steps are 5 epochs.
    config.data.skipgram_windows = True
    config.data.batch_size = 192
    config.num_train_steps = 2960
    if smoke:
        config.data.batch_size = 768
        config.num_train_steps = 50
    return config
