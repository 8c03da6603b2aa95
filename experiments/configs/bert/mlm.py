"""Tiny BERT: masked-LM pre-training on pydoc_topics, then fine-tuning to classify standard-library
docstrings by package, against the same classifier trained from scratch.

Run:
  python -m experiments.train_mlm --config=experiments/configs/bert/mlm.py --workdir=runs/mlm
Smoke mode (what the tests run): append `:smoke`.

Stages (each through research/train/loop.py, in its own sub-workdir, so each resumes):
  pretrain/            masked LM on pydoc_topics: WordPiece 4096, 128-token windows, 15% masked
                       (80/10/10), 600 steps of 32; eval on the validation split with fixed masks.
  finetune_pretrained/ [CLS] docstring -> pooler -> classifier over the 6 most frequent packages,
                       encoder initialized from pretrain/ (pooler and classifier fresh).
  finetune_scratch/    the same classifier, every weight fresh.
Both fine-tunings report accuracy on the test split (the loop's final evaluation).

Expected result: MEASURED_RESULT
"""

from ml_collections.config_dict import placeholder

from experiments.configs.bert.common import mlm_config
from experiments.configs.common import base_config


def get_config(arg: str | None = None):
    if arg not in (None, "smoke"):
        raise ValueError(f"Unknown config argument {arg!r}; use ':smoke' or nothing.")
    smoke = arg == "smoke"
    config = mlm_config(smoke=smoke)

    # The fine-tuning stage: the loop's standard keys again (its own steps and optimizer).
    finetune = base_config()
    finetune.data = dict(
        name="stdlib_docstrings",
        data_dir=placeholder(str),
        eval_split="test",
        num_classes=6,  # the most frequent packages of the train split
        min_train_docs=20,
        seq_len=64,  # [CLS] + the first 63 tokens of the docstring, padded
        batch_size=32,
    )
    finetune.num_train_steps = 300
    finetune.log_every_steps = 50
    finetune.eval_every_steps = 100
    finetune.checkpoint_every_steps = 100
    finetune.optimizer.learning_rate = 3e-4
    finetune.optimizer.warmup_steps = 30
    finetune.optimizer.weight_decay = 0.01
    finetune.optimizer.b2 = 0.98
    if smoke:
        finetune.data.num_classes = 3
        finetune.data.seq_len = 32
        finetune.data.batch_size = 8
        finetune.num_train_steps = 10
        finetune.log_every_steps = 5
        finetune.eval_every_steps = 10
        finetune.checkpoint_every_steps = 10
        finetune.optimizer.warmup_steps = 2
    config.finetune = finetune
    return config
