"""Contextual against static word vectors: six ambiguous words, two senses, three sentences each,
through tiny BERT pre-trained with masked LM (the same pre-training as experiments/configs/bert/mlm.py).

Run:
  python -m experiments.contextual_vectors --config=experiments/configs/bert/contextual.py \
      --workdir=runs/contextual
Reuse a finished train_mlm run (its tokenizer and pretrain/ checkpoint; nothing is retrained):
  ... --config.mlm_workdir=runs/mlm
The pre-training is train_mlm's config, nested as the `mlm` section: every key of
experiments/configs/bert/mlm.py is a --config.mlm.<key> flag (--config.mlm.num_train_steps=...,
--config.mlm.model.num_layers=...); only its top level (the pretrain stage) is used here.
Smoke mode (what the tests run): append `:smoke` (the words set and raise).

Expected result (measured with --config.mlm_workdir set to the full train_mlm run, so the
encoder is its 600-step pre-training; 55 s wall, 23 s CPU, on a shared 2-core AMD EPYC CPU, jax
0.10.2). Mean cosine similarity of a word's final-layer vectors over pairs of occurrences (a static
vector gives 1.000 for every pair):

  word   same sense  different senses  untrained: same / different  vs its static embedding
  set    0.927       0.912             0.763 / 0.699                0.710
  key    0.936       0.932             0.678 / 0.751                0.698
  type   0.932       0.913             0.741 / 0.667                0.692
  raise  0.845       0.854             0.761 / 0.809                0.581
  open   0.853       0.831             0.757 / 0.700                0.296
  list   0.955       0.933             0.806 / 0.691                0.666

Every occurrence gets its own vector (all below 1); same-sense pairs are closer than
different-sense pairs for 5 of 6 words, by small margins (tiny model, 2.4M tokens of pre-training);
the trained vectors are more alike overall than the untrained ones (anisotropy, Ethayarajh 2019).
Without --config.mlm_workdir the run first pre-trains (about 20 min on that CPU). Smoke mode: about
4 min wall on the loaded CPU (under 1 min CPU).
"""

import ml_collections
from ml_collections.config_dict import placeholder

from experiments.configs.bert import mlm
from experiments.configs.common import parse_arg


def get_config(arg: str | None = None):
    smoke = parse_arg(arg)
    config = ml_collections.ConfigDict()
    # train_mlm's config: its pre-training stage (the top level of the section) is what runs here.
    config.mlm = mlm.get_config("smoke" if smoke else None)
    # A train_mlm workdir whose tokenizer/ and pretrain/ to use; None: pre-train in this workdir.
    config.mlm_workdir = placeholder(str)
    config.words = "set,key,type,raise,open,list"  # from experiments.contextual_vectors.SENTENCES
    if smoke:
        # Two words: each runs its own un-jitted forward passes (new shapes each), most of the
        # smoke time after the pre-training.
        config.words = "set,raise"
    return config
