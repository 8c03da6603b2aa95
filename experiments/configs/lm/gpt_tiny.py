"""GPT-tiny: a byte-level decoder-only transformer on the embedded pydoc_topics corpus (the main job).

Run (this is `make run`):
  python -m experiments.train_lm --config=experiments/configs/lm/gpt_tiny.py --workdir=runs/gpt_tiny
Smoke mode (seconds; what the tests run):
  python -m experiments.train_lm --config=experiments/configs/lm/gpt_tiny.py:smoke --workdir=/tmp/s
Any key can be changed with a flag, e.g. `--config.num_train_steps=500 --config.model.num_layers=2`.
Subword tokens instead of bytes (trained on the train split on the first run, saved in
<workdir>/tokenizer, reused on resume): `--config.tokenizer.kind=sentencepiece_bpe` (or
sentencepiece_unigram, byte_bpe, wordpiece) `--config.tokenizer.vocab_size=1024
--config.model.vocab_size=1024`; compare runs by eval/nats_per_byte, not eval/loss (nats per
token). Smoke mode with sentencepiece_bpe at 512 ids: 33 s, eval/loss 5.32 nats/token = 2.82
nats/byte at step 20 (1.88 bytes per token; measured on the busy 2-core CPU). The vocabulary-size
trade-off is measured by experiments/vocab_size.py.

Data: Python's own documentation topics (`pydoc_data.topics`, 79 documents, 465 KB), split 90/10 by
document, bytes as tokens (vocabulary 257 = 256 bytes + end-of-document).

Expected result (measured with `time make run` on a 2-core AMD EPYC CPU, jax 0.10.2): 6 min 29 s
in all at 5.5-6.0K tokens/s (2026-11-27; 7.5 to 8.5 min before the CPU backend's temporaries got
huge pages, `research.train.host_memory`); validation loss 1.369 nats/byte after
500 steps (1.907 at step 200, 1.441 at 400), against 1.604 for the best n-gram of the same split (order 4, add-k 0.01). Smoke
mode takes about 15 s.
"""

from experiments.configs.common import parse_arg
from experiments.configs.lm.common import lm_config


def get_config(arg: str | None = None):
    smoke = parse_arg(arg)
    # The 'tiny' preset (4 layers, width 256, 4 heads, MLP 1024) with a 128-token context.
    config = lm_config("transformer_lm", "tiny", smoke=smoke, max_len=128)
    if smoke:
        config.model.num_layers = 2
        config.model.embed_dim = 64
        config.model.num_heads = 2
        config.model.mlp_dim = 128
        config.model.max_len = 64
    return config
