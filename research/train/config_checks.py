"""Refusing nonsense in the training loop's standard config keys, before anything is written.

The loop calls `check_config(config)` first thing, and `check_batch_size` on its task's first
training batch and on every evaluation batch size, all before it creates or writes the workdir (an
evaluation batch the mesh cannot split used to end the run at its first evaluation, after training
and before any checkpoint). Without them, for example,
`--config.optimizer.learning_rate=-1` trains by gradient ascent and exits 0, and
`--config.num_train_steps=0` exits 0 having trained nothing.

Every refusal is a ValueError of one sentence that names the key as it is typed on the command line
(`--config.optimizer.learning_rate`), its value and the valid range. Mesh sizes are checked where the
mesh is built (`research.sharding.mesh.resolve_mesh_shape`).
"""

import math
from collections.abc import Sequence

from research.sharding.axes import parse_rules, with_additional_rules
from research.train.optimizer import DECAYS


def _flag(key: str, value) -> str:
    shown = repr(value) if isinstance(value, str) else value
    return f"--config.{key}={shown}"


def _check_range(
    config, key: str, lo, hi=math.inf, *, lo_open=False, hi_open=False, integer=False, hi_name=None
):
    """Refuses `config[key]` unless it is a finite (integer) number in the given interval.

    `hi_name`: how the upper bound is shown when it comes from another key.
    """
    value = config
    for part in key.split("."):
        value = value[part]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    ok = (
        number
        and math.isfinite(value)
        and (not integer or float(value).is_integer())
        and (value > lo if lo_open else value >= lo)
        and (value < hi if hi_open else value <= hi)
    )
    if ok:
        return
    kind = "an integer" if integer else "a finite number"
    if hi == math.inf:
        valid = f"{kind} {'>' if lo_open else '>='} {lo}"
    else:
        bounds = f"{lo}, {hi_name or hi}"
        valid = f"{kind} in {'(' if lo_open else '['}{bounds}{')' if hi_open else ']'}"
    raise ValueError(f"{_flag(key, value)} is out of range; it must be {valid}.")


def check_config(config) -> None:
    """Raises ValueError (one sentence naming the flag) for the first standard key out of range."""
    for key in (
        "num_train_steps",
        "log_every_steps",
        "eval_every_steps",
        "checkpoint_every_steps",
        "keep_checkpoints",
    ):
        _check_range(config, key, 1, integer=True)
    _check_range(config, "optimizer.learning_rate", 0, lo_open=True)
    check_steps_per_call(config)
    total = config.num_train_steps
    _check_range(
        config, "optimizer.warmup_steps", 0, total, integer=True, hi_name=f"num_train_steps={total}"
    )
    _check_range(config, "optimizer.end_learning_rate_ratio", 0, 1)
    _check_range(config, "optimizer.b1", 0, 1, hi_open=True)
    _check_range(config, "optimizer.b2", 0, 1, hi_open=True)
    _check_range(config, "optimizer.eps", 0, lo_open=True)
    _check_range(config, "optimizer.weight_decay", 0)
    _check_range(config, "optimizer.grad_clip_norm", 0)  # 0 disables clipping
    if config.optimizer.decay not in DECAYS:
        raise ValueError(
            f"{_flag('optimizer.decay', config.optimizer.decay)} is not a known decay; it must "
            f"be one of {', '.join(DECAYS)}."
        )
    try:
        with_additional_rules(parse_rules(config.sharding_rules))
    except ValueError as e:
        reason = str(e)
        raise ValueError(
            f"{_flag('sharding_rules', config.sharding_rules)} is refused: "
            f"{reason[0].lower()}{reason[1:]}"
        ) from None


def check_steps_per_call(config) -> None:
    """`steps_per_call` (optional, default 1) must divide every step count the loop acts on, since
    the loop logs, evaluates, checkpoints and stops only between calls."""
    if "steps_per_call" not in config:
        return
    _check_range(config, "steps_per_call", 1, integer=True)
    per_call = config.steps_per_call
    for key in ("num_train_steps", "log_every_steps", "eval_every_steps", "checkpoint_every_steps"):
        if config[key] % per_call:
            raise ValueError(
                f"{_flag(key, config[key])} is not a multiple of --config.steps_per_call={per_call};"
                " the loop logs, evaluates, checkpoints and stops only between calls, so make "
                "every step count a multiple of it."
            )


TRAINING_BATCH = "the task's first training batch; usually set by --config.data.batch_size"
EVALUATION_BATCH = (
    "an evaluation batch; usually set by --config.data.eval_batch_size, or by "
    "--config.data.batch_size where the config has no eval_batch_size"
)


def check_batch_size(
    global_batch_size: int,
    batch_axes: Sequence[str],
    mesh_shape: dict,
    process_count: int,
    where: str = TRAINING_BATCH,
) -> None:
    """Refuses a global batch that cannot be split over the mesh's batch axes or the processes.

    `batch_axes`: the mesh axes the 'batch' rule shards rows over (('data', 'fsdp') by default);
    `mesh_shape`: mesh axis name -> size; `where`: which batch it is and the flag that sets it
    (TRAINING_BATCH or EVALUATION_BATCH).
    """
    if global_batch_size < 1:
        raise ValueError(
            f"The global batch size {global_batch_size} ({where}) is out of range; it must be >= 1."
        )
    shards = math.prod(mesh_shape[a] for a in batch_axes)
    if global_batch_size % shards:
        split = " x ".join(f"{a}={mesh_shape[a]}" for a in batch_axes) or "none"
        raise ValueError(
            f"The global batch size {global_batch_size} ({where}) is not divisible by the mesh's "
            f"{shards} batch shards ({split}); it must be a multiple of {shards}, or change "
            "--config.mesh.*."
        )
    if global_batch_size % process_count:
        raise ValueError(
            f"The global batch size {global_batch_size} ({where}) is not divisible by the "
            f"{process_count} processes; it must be a multiple of {process_count}."
        )
