"""Checkpoint converters, one file per source format and model family, kept beside the models so a
fork of a model file stays self-contained (e.g. `hf_gpt2.py`: Hugging Face GPT-2 <-> transformer_lm).

Every Hugging Face converter (`hf_gpt2`, `hf_bert`, `hf_t5`) has the same interface:
`load(path, **overrides) -> (Model, params)` and `save(path, config, params) -> path`;
`hf_folder.load(path)` picks the converter from the folder's config.json (`model_type`)."""
