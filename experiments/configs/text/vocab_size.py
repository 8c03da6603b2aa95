"""Vocabulary size on real text: tokens per word, sequence length, byte fallback, embedding size,
and GPT-tiny's validation nats per byte at equal compute (a standalone analysis script).

Run:
  python -m experiments.vocab_size --config=experiments/configs/text/vocab_size.py \
      --workdir=runs/vocab_size
Smoke mode (what the tests run): append `:smoke` (pydoc_topics, two sizes, 4-step LM runs).

Tokenizers are trained on the train split of the standard library's docstrings
(research/data/stdlib_docstrings.py, 1.38 MB on 3.11) and measured on its validation split; the
LM runs use the main job's corpus (pydoc_topics, through experiments/train_lm.py).

Expected result: MEASURED_PLACEHOLDER
"""

import ml_collections
from ml_collections.config_dict import placeholder


def get_config(arg: str | None = None):
    if arg not in (None, "smoke"):
        raise ValueError(f"Unknown config argument {arg!r}; use ':smoke' or nothing.")
    config = ml_collections.ConfigDict()
    config.smoke = arg == "smoke"
    config.seed = 0
    config.data = dict(
        name="stdlib_docstrings",  # or pydoc_topics
        data_dir=placeholder(str),  # TFDS data directory; None = TFDS default
        train_split="train",
        heldout_split="validation",
    )
    config.kinds = "sentencepiece_bpe,sentencepiece_unigram,byte_bpe"
    config.vocab_sizes = "512,1024,4096,8192,16384,32768"
    config.num_sentinels = 32  # as the LM's default tokenizer config
    config.embed_dim = 256  # GPT-tiny's d_model, for the embedding-table size
    # GPT-tiny runs at equal compute: 'bytes' or '<kind>:<vocab size>'.
    config.lm_runs = "bytes,sentencepiece_bpe:1024,sentencepiece_bpe:8192"
    config.lm_data_dir = placeholder(str)
    config.num_train_steps = 60  # per LM run (warmup 30)
    config.lm_batch_size = 16  # sequences of 128 tokens per step (the main job: 32)
    config.lm_num_devices = 0  # devices of the LM runs' mesh; 0 = all
    if config.smoke:
        config.data.name = "pydoc_topics"
        config.kinds = "sentencepiece_bpe,sentencepiece_unigram,byte_bpe"
        config.vocab_sizes = "400,1024"
        config.lm_runs = "sentencepiece_bpe:512"  # one run: the path, not the comparison
        config.num_train_steps = 4
        config.lm_batch_size = 8
        config.lm_num_devices = 1  # compiles faster than the tests' 8 fake CPU devices
    return config
