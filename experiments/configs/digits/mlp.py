"""MLP classifier on scikit-learn's 8x8 digits (embedded: ships with scikit-learn).

Run:
  python -m experiments.train_digits --config=experiments/configs/digits/mlp.py --workdir=runs/digits
Smoke mode: append `:smoke`.

Data: 1797 images of 64 pixels in [0, 1], split 90/10 (1617 train / 180 test).

Expected result (measured on a 2-core AMD EPYC CPU): test accuracy 0.989 and test loss 0.034
after 600 steps, about 8 s in all (0.978 at step 200).
"""

from ml_collections.config_dict import placeholder

from experiments.configs.common import base_config, model_section, parse_arg, schedule


def get_config(arg: str | None = None):
    smoke = parse_arg(arg)
    config = base_config()
    config.model_name = "mlp_classifier"
    config.model = model_section("mlp_classifier", "digits")
    config.data = dict(name="digits", data_dir=placeholder(str), batch_size=64, eval_split="test")

    schedule(config, steps=600, log_every=50, eval_every=200, checkpoint_every=200)
    config.optimizer.learning_rate = 3e-3
    config.optimizer.warmup_steps = 50
    config.optimizer.weight_decay = 1e-4

    if smoke:
        config.model.hidden_dim = 32
        schedule(config, steps=20, log_every=5, eval_every=10, checkpoint_every=10)
        config.optimizer.warmup_steps = 5
    return config
