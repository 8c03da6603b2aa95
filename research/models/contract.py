"""The model-file contract, written once: `make` for every model file.

A model file ends with

    make = contract.maker("my_model", Config, VARIANTS, Model)

and so exports `make(variant=None, **overrides) -> Model` with the same behaviour and the same
one-sentence refusals as every other model: an unknown variant names the known ones, an unknown
field names the valid ones. A `Config` refuses bad values itself, in `__post_init__`, one sentence
per refusal (`check_dtypes` for its `dtype` and `param_dtype`); so `make` never builds a model from
a config that cannot work.
"""

import dataclasses
from collections.abc import Callable, Mapping

import jax.numpy as jnp


def check_dtypes(config) -> None:
    """For a Config's `__post_init__`: a one-sentence ValueError when `dtype` or `param_dtype`
    (the compute and parameter dtypes, names such as 'float32' or 'bfloat16') is not a float dtype."""
    for name in ("dtype", "param_dtype"):
        value = getattr(config, name)
        try:
            ok = jnp.issubdtype(jnp.dtype(value), jnp.floating)
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(
                f"{name}={value!r} is not a floating-point dtype; pass e.g. 'float32' or 'bfloat16'."
            )


def maker(family: str, config_cls: type, variants: Mapping[str, dict], model_cls: type) -> Callable:
    """`make(variant=None, **overrides)` for a model file: `model_cls(config_cls(**values))` with
    values = the preset `variants[variant]` (None: the `Config` defaults) updated by `overrides`.

    `family` is the name the errors use ('transformer_lm'). The presets are read at call time, so a
    fork or a test may add to `VARIANTS` after the file is imported.
    """
    fields = {f.name for f in dataclasses.fields(config_cls)}

    def make(variant: str | None = None, **overrides):
        if variant is not None and variant not in variants:
            raise ValueError(
                f"Unknown {family} variant {variant!r}; choose one of {sorted(variants)} or None."
            )
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(
                f"Unknown {family} Config field(s) {unknown}; valid fields are {sorted(fields)}."
            )
        values = {**(variants[variant] if variant is not None else {}), **overrides}
        return model_cls(config_cls(**values))

    make.__doc__ = (
        f"A {family} `Model` from a preset in `VARIANTS` (None: the `Config` defaults) plus "
        "`Config` field overrides; unknown variants and fields are refused by name."
    )
    make.__module__ = getattr(model_cls, "__module__", make.__module__)
    return make
