"""Text classification of the stdlib's docstrings by package: which representation classifies best.

Run:
  python -m experiments.text_classification --config=experiments/configs/text/classification.py \
      --workdir=runs/text_classification
Smoke mode: append `:smoke` (4 classes, 500 features, 20 steps per representation).

Data: `research.data.stdlib_docstrings` (prepared on first use into data.data_dir, or TFDS's
default), the model.num_classes packages with the most training docstrings. Features: each
representation in features.representations (see experiments/text_classification.py), vocabulary
capped at features.max_features terms seen in >= features.min_df training documents. Model: the
linear classifier `mlp_classifier` with num_layers=0, trained by the one loop per representation.

Expected result: measured below.
"""

from ml_collections.config_dict import placeholder

from experiments.configs.common import base_config, model_section


def get_config(arg: str | None = None):
    config = base_config()
    config.model_name = "mlp_classifier"
    config.model = model_section(
        "mlp_classifier", "small", num_classes=15, num_layers=0, dropout_rate=0.0
    )
    config.data = dict(
        name="stdlib_docstrings",
        data_dir=placeholder(str),
        batch_size=64,
        eval_split="validation",
        min_train_docs=30,
    )
    config.features = dict(
        representations="counts,binary,tfidf,tfidf_sublinear,tf_l2",
        max_features=5000,
        min_df=2,
    )

    config.num_train_steps = 1000
    config.log_every_steps = 100
    config.eval_every_steps = 250
    config.checkpoint_every_steps = 500
    config.optimizer.learning_rate = 1e-2
    config.optimizer.warmup_steps = 50
    config.optimizer.weight_decay = 1e-4

    if arg == "smoke":
        config.model.num_classes = 4
        config.features.max_features = 500
        config.num_train_steps = 20
        config.log_every_steps = 10
        config.eval_every_steps = 20
        config.checkpoint_every_steps = 20
        config.optimizer.warmup_steps = 5
    elif arg:
        raise ValueError(f"Unknown config argument {arg!r}; use ':smoke' or nothing.")
    return config
