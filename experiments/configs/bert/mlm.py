"""Tiny BERT: masked-LM pre-training on pydoc_topics, then fine-tuning to classify standard-library
docstrings by package, against the same classifier trained from scratch.

Run:
  python -m experiments.train_mlm --config=experiments/configs/bert/mlm.py --workdir=runs/mlm
Smoke mode (what the tests run): append `:smoke`.

Stages (experiments/stages.py: each in its own sub-workdir and resumable; a preempted stage
stops the run with exit status 0, and the same command resumes it):
  pretrain/            masked LM on pydoc_topics: WordPiece 4096, 128-token windows, 15% masked
                       (80/10/10: --config.masking.*), 600 steps of 32; eval on the validation
                       split with fixed masks.
  finetune_pretrained/ [CLS] docstring -> pooler -> classifier over the 6 most frequent packages,
                       encoder initialized from pretrain/ (pooler and classifier fresh).
  finetune_scratch/    the same classifier, every weight fresh.
Both fine-tunings report accuracy on the test split (the loop's final evaluation).

Expected result (measured, one full run on a 2-core AMD EPYC CPU shared with other jobs, jax
0.10.2; 29 min 50 s wall, 12 min CPU user time):
  pre-training   eval loss 4.104 nats per masked token (4.353 at step 200, 4.164 at 400), masked-
                 token accuracy 0.364, against 5.108 for the train unigram distribution; 1.3-2.9K
                 tokens/s.
  fine-tuning    6 packages (distutils, asyncio, email, importlib, logging, _pydecimal), 996 train
                 / 114 test docstrings: test accuracy 0.825 from the pre-trained encoder (0.614 at
                 step 100, 0.789 at 200) and 0.939 from scratch (0.535, 0.939).
With --config.finetune.optimizer.learning_rate=1e-3 (same pre-training): 0.904 pre-trained
(0.868 at step 100) against 0.921 from scratch (0.886); on 114 test documents one is 0.009.
Pre-training did not help here: masked LM alone never trains the [CLS] output the pooler reads
(no next-sentence objective), 100K tokens of pydoc text are little, and the docstring packages are
told apart by a few keywords that a fresh model learns in 200 steps. Smoke mode: about 3 min wall
on the same loaded CPU (46 s CPU).
"""

from ml_collections.config_dict import placeholder

from experiments.configs.common import base_config, model_section, parse_arg, schedule


def get_config(arg: str | None = None):
    smoke = parse_arg(arg)
    # The pre-training stage (the top level): tiny BERT (4 layers, width 128), WordPiece 4096,
    # 128-token windows, 600 steps of 32.
    config = base_config()
    config.model_name = "bert"
    # No pooler while pre-training: without next-sentence prediction nothing would train it.
    config.model = model_section("bert", "tiny", pooler=False)
    config.data = dict(
        name="pydoc_topics",  # the embedded corpus (Python's documentation topics)
        data_dir=placeholder(str),  # TFDS data directory; None = TFDS default
        text_key="text",
        train_split="train",
        eval_split="validation",
        seq_len=128,  # [CLS] + 127 tokens of the document stream ([SEP] = end of document)
        batch_size=32,
    )
    # WordPiece trained on the train split on the first run, saved in <workdir>/tokenizer
    # (research.tasks.tokenizer); vocab_size 0 = model.vocab_size.
    config.tokenizer = dict(kind="wordpiece", vocab_size=0, num_sentinels=0)
    config.masking = dict(rate=0.15, mask_fraction=0.8, random_fraction=0.1)
    schedule(config, steps=600, log_every=50, eval_every=200, checkpoint_every=200)
    config.optimizer.learning_rate = 1e-3
    config.optimizer.warmup_steps = 60
    config.optimizer.b2 = 0.98
    config.optimizer.weight_decay = 0.01

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
    schedule(finetune, steps=300, log_every=50, eval_every=100, checkpoint_every=100)
    finetune.optimizer.learning_rate = 3e-4
    finetune.optimizer.warmup_steps = 30
    finetune.optimizer.weight_decay = 0.01
    finetune.optimizer.b2 = 0.98

    if smoke:
        config.model.vocab_size = 1024
        config.model.num_layers = 2
        config.model.embed_dim = 32
        config.model.num_heads = 2
        config.model.mlp_dim = 64
        config.model.max_len = 32
        config.data.seq_len = 32
        config.data.batch_size = 8
        schedule(config, steps=20, log_every=5, eval_every=10, checkpoint_every=10)
        config.optimizer.warmup_steps = 5
        finetune.data.num_classes = 3
        finetune.data.seq_len = 32
        finetune.data.batch_size = 8
        schedule(finetune, steps=10, log_every=5, eval_every=10, checkpoint_every=10)
        finetune.optimizer.warmup_steps = 2
    config.finetune = finetune
    return config
