"""Contextual against static word vectors: six ambiguous words, two senses, three sentences each,
through tiny BERT pre-trained with masked LM (the same pre-training as experiments/configs/bert/mlm.py).

Run:
  python -m experiments.contextual_vectors --config=experiments/configs/bert/contextual.py \
      --workdir=runs/contextual
Reuse a finished train_mlm run (its tokenizer and pretrain/ checkpoint; nothing is retrained):
  ... --config.mlm_workdir=runs/mlm
Smoke mode (what the tests run): append `:smoke`.

Expected result: MEASURED_RESULT
"""

from ml_collections.config_dict import placeholder

from experiments.configs.bert.common import mlm_config


def get_config(arg: str | None = None):
    if arg not in (None, "smoke"):
        raise ValueError(f"Unknown config argument {arg!r}; use ':smoke' or nothing.")
    config = mlm_config(smoke=arg == "smoke")
    # A train_mlm workdir whose tokenizer/ and pretrain/ to use; None: pre-train in this workdir.
    config.mlm_workdir = placeholder(str)
    config.words = "set,key,type,raise,open,list"  # from experiments.contextual_vectors.SENTENCES
    return config
