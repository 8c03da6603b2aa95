"""GloVe word vectors on the standard library's docstrings (embedded corpus, offline).

Run:
  python -m experiments.train_glove --config=experiments/configs/embeddings/glove.py \
      --workdir=runs/glove
Smoke mode: append `:smoke` (the planted corpus, 50 steps, seconds). The planted corpus at full
length: `--config.data.corpus=planted`.

Data: every docstring of the train split of `research.data.stdlib_docstrings` is one sentence of
lowercased regex words; words seen at least 5 times (at most model.vocab_size of them).
Co-occurrences: symmetric window of 10 with 1/d weights, counted once into the workdir.
Model: research/models/glove.py, 50 dimensions; loss (research/train/glove_loss.py) x_max 100, alpha
0.75 (`loss.x_max`, `loss.alpha`); AdaGrad lr 0.05 (glove.c's),
starting accumulator 1.0, constant rate, no clipping; batches of 1024 nonzeros.

Measured (2-core AMD EPYC CPU shared with other jobs, load ~14, one XLA CPU device, Python 3.11):
2,852 words, 150,836 corpus words in vocabulary, 549,156 nonzeros counted in 0.5 s; 20,000 steps
(37.3 epochs over the nonzeros) in 66 s of training (311K nonzeros/s over the whole run, 384K/s in
the last interval), final cost per nonzero 0.0096 (0.040 at step 500), 78 s in all. Bit-identical
on a rerun. Nearest neighbours: file -> filename, source, object; string -> single, containing,
input; error -> an, occurs, exception; directory -> current, package.
Smoke (planted corpus of 2,000 sentences, 50 steps of 256, 8 CPU devices): ~10 s; too short to
recover the clusters. The planted test (tests/experiments/train_glove_test.py: 20,000 sentences
with 5% noise words, window 5, dim 16, 6400 steps of 512) reaches cluster and analogy accuracy 1.0
in ~10 s; without the noise words, trained that long, GloVe grouped planted words by role instead
(see that test and research/data/planted_embeddings.py).
"""

from ml_collections.config_dict import placeholder

from experiments.configs.common import base_config, model_section, parse_arg, schedule


def get_config(arg: str | None = None):
    smoke = parse_arg(arg)
    config = base_config()
    config.model_name = "glove"
    # model.vocab_size caps the vocabulary; the model is built with the vocabulary's actual size.
    config.model = model_section("glove", "small", vocab_size=50_000)
    # GloVe's weighting f(x) = min(1, (x / x_max)^alpha) (research/train/glove_loss.py).
    config.loss = dict(x_max=100.0, alpha=0.75)
    config.data = dict(
        corpus="stdlib_docstrings",  # or 'planted'
        data_dir=placeholder(str),
        split="train",
        min_count=5,
        window=10,
        batch_size=1024,  # nonzeros per step (global)
        chunk_tokens=1_000_000,  # co-occurrence counting chunk (memory bound, see cooccurrence.py)
        # research.data.planted_embeddings.planted_corpus arguments (corpus='planted').
        planted=dict(
            num_clusters=8,
            words_per_cluster=12,
            num_sentences=20_000,
            sentence_length=12,
            seed=0,
            noise=0.05,  # uniformly random words (see planted_embeddings: GloVe needs them)
        ),
    )

    # No evaluation set: the loop skips evaluation.
    schedule(config, steps=20_000, log_every=500, eval_every=20_000, checkpoint_every=5_000)
    config.optimizer.name = "adagrad"
    config.optimizer.initial_accumulator = 1.0
    config.optimizer.learning_rate = 0.05
    config.optimizer.warmup_steps = 0
    config.optimizer.decay = "constant"
    config.optimizer.end_learning_rate_ratio = 1.0
    config.optimizer.weight_decay = 0.0
    config.optimizer.grad_clip_norm = 0.0

    if smoke:
        config.data.corpus = "planted"
        config.data.planted.num_sentences = 2_000
        config.data.batch_size = 256
        config.model.embed_dim = 16
        schedule(config, steps=50, log_every=10, eval_every=50, checkpoint_every=25)
    return config
