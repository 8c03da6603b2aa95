"""What the BERT experiments share: masked-LM pre-training of tiny BERT on the embedded corpus.

`mlm_config(smoke)` is a complete training-loop config (the loop's standard keys, model, data,
tokenizer, masking); experiments/configs/bert/mlm.py adds the fine-tuning stage and
experiments/configs/bert/contextual.py the word lists.
"""

from ml_collections.config_dict import placeholder

from experiments.configs.common import base_config, model_section, schedule


def mlm_config(*, smoke: bool):
    """Tiny BERT (4 layers, width 128), WordPiece 4096, 128-token windows, 600 steps of 32."""
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
    # (experiments.train_lm.load_or_train_tokenizer); vocab_size 0 = model.vocab_size.
    config.tokenizer = dict(kind="wordpiece", vocab_size=0, num_sentinels=0)
    config.mlm = dict(rate=0.15, mask_fraction=0.8, random_fraction=0.1)

    schedule(config, steps=600, log_every=50, eval_every=200, checkpoint_every=200)
    config.optimizer.learning_rate = 1e-3
    config.optimizer.warmup_steps = 60
    config.optimizer.b2 = 0.98
    config.optimizer.weight_decay = 0.01

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
    return config
