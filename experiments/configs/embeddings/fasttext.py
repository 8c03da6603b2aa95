"""FastText skip-gram (character n-grams 3..6 hashed into 100,000 buckets) on the standard library's
docstrings.

Run:
  python -m experiments.train_word2vec --config=experiments/configs/embeddings/fasttext.py \
      --workdir=runs/fasttext
Smoke mode: append `:smoke` (the planted corpus, 50 steps of 4096 pairs, 2,000 buckets).

Settings: word2vec's (see word2vec.py: dim 100, window 5, 5 negatives, sample 1e-3, min_count 5,
3070 steps of 1024 pairs = 5 epochs, SGD 0.025 -> 0.0001) plus min_n 3, max_n 6 and 100,000
buckets (gensim's default is 2,000,000; the bucket ids are gensim's, so give gensim bucket=100_000
for the same model). CBOW (--config.model.architecture=cbow) needs smaller batches than word2vec's:
at 4096 windows a batch sums so many updates into the shared n-gram rows that it diverged on the
planted corpus (512 trained).

Measured (2-core AMD EPYC CPU shared with other jobs, load average about 14; one XLA device):
3070 steps = 5.0 epochs, loss 2.454, 742 s = 1.1K corpus words/s (2.8K to 6.2K pairs/s). gensim 4.4
FastText with the same settings (bucket=100_000, workers=1), measured a few minutes earlier on the
same machine: 97K words/s (8.3 s). The cost is the n-gram gather and its scatter-add gradient:
each pair's input averages its word row and up to 78 n-gram rows (the bucket table is padded to
the vocabulary's longest word; the mean is 21 per word), all through XLA's CPU gather and scatter.
Nearest (same as gensim's FastText gives on this corpus): list -> lists, tuples, plist, tokenlist;
file -> zipfile, fileno, tarfile, fileobj; socket -> sockets, sock, connect, create_connection;
encoding -> encodings, decoding, body_encoding, encoder.
Planted corpus, :smoke (tables sharded over tensor=2 in the test): nearest-neighbour cluster
accuracy 1.0, analogy accuracy (3CosAdd) 0.43 after 50 steps.
"""

from experiments.configs.embeddings.word2vec import word2vec_config


def get_config(arg: str | None = None):
    config = word2vec_config("fasttext", "skipgram", arg)
    # Skip-gram pairs grouped by center (its n-gram average computed once for its ~5.5 pairs):
    # 192 centers hold about 1060 pairs, word2vec's 1024; 2960 steps are 5 epochs.
    config.data.skipgram_windows = True
    config.data.batch_size = 192
    config.num_train_steps = 2960
    if arg == "smoke":
        config.data.batch_size = 768
        config.num_train_steps = 50
    return config
