"""Checkpoint converters, one file per source format and model family, kept beside the models so a
fork of a model file stays self-contained (e.g. `hf_gpt2.py`: Hugging Face GPT-2 <-> transformer_lm)."""
