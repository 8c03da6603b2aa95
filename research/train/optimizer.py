"""Optimizer factory: AdamW (or plain SGD, or AdaGrad) with warmup + decay, global-norm clipping
and a weight-decay mask.

The config section (`config.optimizer`) has the keys below; experiments expand them explicitly so any
can be overridden with `--config.optimizer.<key>=...`:

  name              'adamw' (default) | 'sgd' (no momentum: word2vec's update) | 'adagrad' (GloVe's;
                    the squared-gradient sums start at `initial_accumulator`); b1, b2 and
                    weight_decay are Adam's only
  initial_accumulator  AdaGrad's starting sum of squared gradients (GloVe's C code uses 1.0)
  learning_rate     peak learning rate reached at the end of warmup
  warmup_steps      linear warmup from 0
  decay             'cosine' | 'linear' | 'constant' (after warmup, down to end_learning_rate_ratio)
  end_learning_rate_ratio   final learning rate as a fraction of the peak
  b1, b2, eps       Adam moments
  weight_decay      decoupled (AdamW) decay, applied only where `decay_mask` is True
  grad_clip_norm    clip the global gradient norm to this value (0 disables clipping)
"""

import jax
import optax

DECAYS = ("cosine", "linear", "constant")
NAMES = ("adamw", "sgd", "adagrad")


def learning_rate_schedule(cfg, num_train_steps: int) -> optax.Schedule:
    """Linear warmup to `cfg.learning_rate`, then the chosen decay until `num_train_steps`."""
    if cfg.decay not in DECAYS:
        raise ValueError(
            f"optimizer.decay={cfg.decay!r} is not known; use one of {', '.join(DECAYS)}."
        )
    peak = cfg.learning_rate
    end = peak * cfg.end_learning_rate_ratio
    warmup = min(cfg.warmup_steps, num_train_steps)
    decay_steps = max(num_train_steps - warmup, 1)
    if cfg.decay == "cosine":
        after = optax.cosine_decay_schedule(peak, decay_steps, alpha=cfg.end_learning_rate_ratio)
    elif cfg.decay == "linear":
        after = optax.linear_schedule(peak, end, decay_steps)
    else:
        after = optax.constant_schedule(peak)
    if warmup == 0:
        return after
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), after], [warmup])


# Parameter names of biases, which keep their values free even when multi-dimensional: attention
# biases are [N, H], the recurrent cells' input and recurrent biases `bi`, `bh` are [G, H] (decaying
# the LSTM's forget-gate bias would pull it from its init of 1 back towards 0).
BIAS_NAMES = ("bias", "bi", "bh")


def decay_mask(params):
    """True for matrices and embeddings (ndim >= 2) except biases (`BIAS_NAMES`); normalization
    scales are 1-D."""

    def decayed(path, p) -> bool:
        name = getattr(path[-1], "key", None) if path else None
        return p.ndim >= 2 and name not in BIAS_NAMES

    return jax.tree_util.tree_map_with_path(decayed, params)


def make_optimizer(cfg, num_train_steps: int) -> optax.GradientTransformation:
    """The optimizer every experiment uses (see the module docstring for `cfg`'s keys)."""
    name = getattr(cfg, "name", "adamw")
    if name not in NAMES:
        raise ValueError(f"optimizer.name={name!r} is not known; use one of {', '.join(NAMES)}.")
    schedule = learning_rate_schedule(cfg, num_train_steps)
    if name == "sgd":
        update = optax.sgd(schedule)
    elif name == "adagrad":
        update = optax.adagrad(
            schedule,
            initial_accumulator_value=getattr(cfg, "initial_accumulator", 0.1),
            eps=cfg.eps,
        )
    else:
        update = optax.adamw(
            schedule,
            b1=cfg.b1,
            b2=cfg.b2,
            eps=cfg.eps,
            weight_decay=cfg.weight_decay,
            mask=decay_mask,
        )
    if cfg.grad_clip_norm and cfg.grad_clip_norm > 0:
        return optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), update)
    return update
