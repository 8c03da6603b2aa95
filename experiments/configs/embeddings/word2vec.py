"""word2vec skip-gram with negative sampling on the standard library's docstrings.

Run:
  python -m experiments.train_word2vec --config=experiments/configs/embeddings/word2vec.py \
      --workdir=runs/word2vec
CBOW (about 113K center words an epoch against 628K skip-gram pairs, so 5 epochs are 555 steps):
  ... --config.model.architecture=cbow --config.num_train_steps=555
The planted corpus: --config.data.corpus=planted. Smoke mode: append `:smoke` (the planted corpus,
50 steps of 4096 pairs, 16 dimensions).

Settings are word2vec's and gensim's defaults: dim 100, window 5 (dynamic), 5 negatives from the
unigram^0.75 table, sample 1e-3, min_count 5, 5 epochs (3070 steps of 1024 pairs), plain SGD from
0.025 decaying linearly to 0.0001 on the sum of the batch's pair losses.

Measured (2-core AMD EPYC CPU shared with other jobs, load average 12 to 14; one XLA device), with
gensim 4.4 (same settings, workers=1; its time includes building the vocabulary) run right after in
the same script: 161,763 corpus words, 2,852 words with min_count 5.
  skip-gram: 3070 steps = 5.0 epochs, loss 2.446, 22.6 s in the loop (compilation and checkpoints
    included) = 35.8K corpus words/s; gensim Word2Vec sg=1: 225K words/s (3.6 s), ratio 0.16.
    Nearest: list -> tuples, elements, sorted, lists; file -> compressed, tar, opened, reading;
    socket -> transport, create, ssl, connection; true -> false, boolean, otherwise.
  CBOW: 555 steps = 5.0 epochs, loss 2.628, 13.2 s = 61.5K words/s; gensim sg=0: 812K words/s
    (1.0 s), ratio 0.076. Neighbours as gensim's CBOW gives them on this corpus (list -> of, line,
    lines, number).
  Planted corpus, :smoke: nearest-neighbour cluster accuracy 1.0 (skip-gram and CBOW), analogy
    accuracy (3CosAdd) 0.27 skip-gram, 0.87 CBOW after 50 steps (0.3 and 1.4 epochs); 200 steps of
    4096 pairs (1.3 epochs, --config.data.corpus=planted --config.data.batch_size=4096
    --config.num_train_steps=200) of skip-gram reach cluster 1.0 and analogy 1.0 (3CosAdd and
    3CosMul).
The step itself is 1.5 ms for 1024 pairs (680K pairs/s); the loop's per-step work (placing the batch,
waiting for the metrics, logging) takes the rest, so throughput is bounded by steps per second.
"""

from ml_collections.config_dict import placeholder

from experiments.configs.common import base_config, model_section, parse_arg, schedule


def word2vec_config(model_name: str, variant: str, arg: str | None):
    """The loop config shared by word2vec and FastText (see the two config files)."""
    smoke = parse_arg(arg)
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
        # Skip-gram pairs grouped by center word (batch_size then counts centers, about 5.5 pairs
        # each here): FastText averages a center's n-gram rows once for all its pairs.
        skipgram_windows=False,
    )
    # ~5 epochs of ~628K skip-gram pairs (gensim: epochs=5); no evaluation set: the loop skips
    # evaluation.
    schedule(config, steps=3070, log_every=100, eval_every=1000, checkpoint_every=1000)
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.025
    config.optimizer.warmup_steps = 0
    config.optimizer.decay = "linear"
    config.optimizer.end_learning_rate_ratio = 0.0001 / 0.025
    config.optimizer.weight_decay = 0.0
    config.optimizer.grad_clip_norm = 0.0

    if smoke:
        config.data.corpus = "planted"
        config.model.embed_dim = 16
        config.data.batch_size = 4096
        schedule(config, steps=50, log_every=10, eval_every=25, checkpoint_every=25)
    return config


def get_config(arg: str | None = None):
    return word2vec_config("word2vec", "skipgram", arg)
