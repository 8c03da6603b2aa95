"""LSTM LM: a byte-level recurrent language model on the embedded pydoc_topics corpus, the main
job's data, split, batches and n-gram baseline, next to the transformer of gpt_tiny.py.

Run:
  python -m experiments.train_lm --config=experiments/configs/lm/lstm.py --workdir=runs/lstm
Smoke mode (seconds; what the tests run):
  python -m experiments.train_lm --config=experiments/configs/lm/lstm.py:smoke --workdir=/tmp/s
A GRU or an Elman network is one flag: `--config.model.cell=gru` (or elman_tanh, ...).

Data: the main job's (gpt_tiny.py): Python's documentation topics (`pydoc_data.topics`, 465 KB),
split 90/10 by document, bytes as tokens, 500 steps of 32 x 128 tokens (2.05M tokens, as GPT-tiny).

Model: the 'tiny' preset of research/models/rnn_lm.py, 2 LSTM layers of 256 units on 256-wide
byte embeddings, output tied to the embedding; 1,134,592 parameters (GPT-tiny: 3,274,240),
6.8 MFLOP per training token (GPT-tiny at T=128: 21.0, 3.1x more). Same optimizer as GPT-tiny
(AdamW 2e-3, cosine), but 50 warmup steps.

Expected result (measured with `time` on the shared 2-core AMD EPYC CPU, jax 0.10.2, with the
RNN biases bi/bh exempt from weight decay): 3 min 1 s in all on a quiet machine, at 12-13K
tokens/s (5 min 45 s at a median 6.8K when other jobs shared the cores); validation loss 1.787
nats/byte at step 100, 1.464 at 200, 1.378 at 300, 1.330 at 400 and 1.318 at 500 (train 1.08),
against 1.604 for the best n-gram of the same split (order 4, add-k 0.01) and GPT-tiny's 1.369 after the same 500 steps: on the same tokens the LSTM is 0.05 nats/byte
better with a third of the FLOPs (one seed, one short run at a small scale; a wider gap between
train and validation loss than that). Smoke mode takes about 15 s (eval 3.97, then 3.61).
"""

from experiments.configs.common import parse_arg
from experiments.configs.lm.common import lm_config


def get_config(arg: str | None = None):
    smoke = parse_arg(arg)
    config = lm_config("rnn_lm", "tiny", smoke=smoke)
    if not smoke:
        config.optimizer.warmup_steps = 50
    else:
        config.model.num_layers = 1
        config.model.embed_dim = 64
        config.model.hidden_dim = 128
    return config
