"""Vocabulary size on real text: tokens per word, sequence length, byte fallback, embedding size,
and GPT-tiny's validation nats per byte at equal compute (a standalone analysis script).

Run:
  python -m experiments.vocab_size --config=experiments/configs/text/vocab_size.py \
      --workdir=runs/vocab_size
Smoke mode (what the tests run): append `:smoke` (pydoc_topics, two sizes, 4-step LM runs).

Tokenizers are trained on the train split of the standard library's docstrings
(research/data/stdlib_docstrings.py, 1.38 MB on 3.11) and measured on its validation split; the
LM runs use the main job's corpus (pydoc_topics): the `lm` section is GPT-tiny's config
(experiments/configs/lm/gpt_tiny.py, every key a flag, e.g. `--config.lm.num_train_steps=120`),
each run setting only lm.tokenizer.kind, lm.tokenizer.vocab_size and lm.model.vocab_size.

Expected result (measured with `time` on the shared 2-core AMD EPYC CPU at load 11-15, jax 0.10.2,
Python 3.11.7): 15 min 46 s in all (tokenizer sweep 2 min 18 s: unigram 11-26 s each, BPE 1-5 s; LM
runs 333 s, 257 s and 203 s). results.md, vocab_tokenizers.png and vocab_lm.png in the workdir.
Held-out: 451 documents, 0.13 MB. Selected rows:

  tokenizer              vocab   tokens/word  bytes/token  mean doc tokens  fallback  embedding
  bytes                    257      6.52         1.00            295          0        82K (2%)
  sentencepiece_bpe       1024      2.63         2.48            119          0.0009   262K (8%)
  sentencepiece_bpe       8192      1.66         3.92             75          0.0015   2.1M (39%)
  sentencepiece_bpe      32768      1.57         4.16             71          0.0016   8.4M (72%)
  sentencepiece_unigram  11032      1.64         3.97             74          0.0015   2.8M (47%)
  byte_bpe               19530      1.59         4.11             72          0.0001   5.0M (61%)

The 1.1 MB corpus cannot fill the biggest vocabularies: unigram stops at 11,032 pieces (asked
16k and 32k), byte-level BPE at 19,530 (asked 32k). Beyond ~8k, a doubling of the vocabulary buys
2-4% fewer tokens and doubles the embedding table (share of GPT-tiny's parameters in brackets).
The fallback rate grows with the vocabulary only because the tokens get fewer: the fallen-back
characters are the same.

LM at equal token positions (60 steps x 16 x 128 tokens, GPT-tiny, pydoc_topics; each tokenizer
trained on its train split): validation nats/byte bytes 2.415, sentencepiece_bpe 1024: 1.841,
8192: 1.618 (n-gram baselines 1.604, 1.530, 1.473). The 8k run read 4.1x the text of the bytes
run in the same steps, at 33.1 vs 21.0 MFLOP per token (the output layer): 1.6x the FLOPs. These
are very short runs (all still above their n-gram baseline), measured once.
"""

import ml_collections
from ml_collections.config_dict import placeholder

from experiments.configs.common import parse_arg, schedule
from experiments.configs.lm import gpt_tiny


def get_config(arg: str | None = None):
    smoke = parse_arg(arg)
    config = ml_collections.ConfigDict()
    config.data = dict(
        name="stdlib_docstrings",  # or pydoc_topics
        data_dir=placeholder(str),  # TFDS data directory; None = TFDS default
        train_split="train",
        heldout_split="validation",
    )
    config.kinds = "sentencepiece_bpe,sentencepiece_unigram,byte_bpe"
    config.vocab_sizes = "512,1024,4096,8192,16384,32768"
    config.embed_dim = 256  # GPT-tiny's d_model, for the embedding-table size
    # GPT-tiny runs at equal compute: 'bytes' or '<kind>:<vocab size>', which sets
    # lm.tokenizer.kind, lm.tokenizer.vocab_size and lm.model.vocab_size, the only keys they differ in.
    config.lm_runs = "bytes,sentencepiece_bpe:1024,sentencepiece_bpe:8192"
    config.lm_num_devices = 0  # devices of the LM runs' mesh; 0 = all
    # GPT-tiny (its smoke size in smoke mode) on the main job's corpus, 60 steps of 16 x 128 tokens
    # (the main job: 32 x 128). lm.tokenizer.num_sentinels also serves the tokenizer sweep.
    config.lm = lm = gpt_tiny.get_config(arg)
    lm.data.batch_size = 16
    schedule(lm, steps=60, log_every=6, eval_every=60, checkpoint_every=60)
    lm.sample.num_tokens = 8
    if smoke:
        config.data.name = "pydoc_topics"
        config.vocab_sizes = "400,1024"
        config.lm_runs = "sentencepiece_bpe:512"  # one run: the path, not the comparison
        config.lm_num_devices = 1  # compiles faster than the tests' 8 fake CPU devices
        lm.data.batch_size = 8
        schedule(lm, steps=4, log_every=1, eval_every=4, checkpoint_every=4)
    lm.optimizer.warmup_steps = min(lm.optimizer.warmup_steps, lm.num_train_steps // 2)
    return config
