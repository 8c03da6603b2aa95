"""Forks of model files live here: `research/models/proj/<your name>/<model>.py`.

Copy a model file (for example `research/models/transformer_lm.py`) into a folder of your own, change
it, and select it with `--config.model_name=proj.<your name>.<model>`; see the README's "Fork a model".
"""
