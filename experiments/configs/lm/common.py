"""What every language-model config on the embedded corpus shares: data, sample, schedule, and the
data and step sizes of `:smoke` mode. Each config file adds its model section and model-specific
smoke sizes (and stays the runbook, with its measured numbers)."""

from ml_collections.config_dict import placeholder

from experiments.configs.common import base_config, model_section, schedule


def lm_config(model_name: str, variant: str, *, smoke: bool, **model_overrides):
    """500 steps of 32 x 128 bytes of pydoc_topics, AdamW at 2e-3, a 120-byte sample at the end."""
    config = base_config()
    config.model_name = model_name
    config.model = model_section(model_name, variant, **model_overrides)
    config.data = dict(
        name="pydoc_topics",  # the embedded corpus; any TFDS text dataset in data_dir works too
        data_dir=placeholder(str),  # TFDS data directory (local or gs://); None = TFDS default
        text_key="text",
        train_split="train",
        eval_split="validation",
        seq_len=128,
        batch_size=32,
    )
    # Tokens: 'bytes' (the default: no training, ids 0..255 + end-of-document 256), or a subword
    # tokenizer trained on the train split on the first run and saved in <workdir>/tokenizer
    # (a resumed run reloads it): sentencepiece_bpe, sentencepiece_unigram, byte_bpe, wordpiece.
    # vocab_size 0 = model.vocab_size; model.vocab_size must hold every id the tokenizer makes.
    config.tokenizer = dict(kind="bytes", vocab_size=0, num_sentinels=32)
    # Drawn through the model's decoding cache; a transformer needs prompt + num_tokens <= max_len.
    # top_k and top_p (nucleus) filter the distribution; 0 turns either off.
    config.sample = dict(prompt="The ", num_tokens=120, temperature=0.8, top_k=0, top_p=0.0)

    schedule(config, steps=500, log_every=25, eval_every=100, checkpoint_every=100)
    config.optimizer.learning_rate = 2e-3
    config.optimizer.warmup_steps = 100

    if smoke:
        config.data.seq_len = 64
        config.data.batch_size = 8
        schedule(config, steps=20, log_every=5, eval_every=10, checkpoint_every=10)
        config.optimizer.warmup_steps = 5
        config.sample.num_tokens = 16
    return config
