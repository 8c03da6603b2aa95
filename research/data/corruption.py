"""Input corruption for denoising autoencoders (Vincent et al., 2008): pure functions of an explicit
rng, applied inside the loss with the step's key so every step sees fresh noise and resume is exact.

All take x [B, ...] (pixels in [0, 1]) and return the same shape and dtype. At rate 0 each returns
x unchanged, so a denoiser trained on them and fed clean input sees exactly its clean data.

  gaussian         x + rate * N(0, 1) (rate is the noise standard deviation; not clipped)
  masking          each pixel set to 0 with probability rate
  salt_and_pepper  each pixel replaced with probability rate, by 0 or 1 with equal chance
"""

import jax
import jax.numpy as jnp


def gaussian(rng, x, rate: float) -> jax.Array:
    return x + (rate * jax.random.normal(rng, jnp.shape(x), jnp.float32)).astype(x.dtype)


def masking(rng, x, rate: float) -> jax.Array:
    keep = jax.random.uniform(rng, jnp.shape(x)) >= rate
    return jnp.where(keep, x, jnp.zeros_like(x))


def salt_and_pepper(rng, x, rate: float, low: float = 0.0, high: float = 1.0) -> jax.Array:
    hit_rng, salt_rng = jax.random.split(rng)
    hit = jax.random.uniform(hit_rng, jnp.shape(x)) < rate
    salt = jax.random.bernoulli(salt_rng, 0.5, jnp.shape(x))
    noise = jnp.where(salt, jnp.asarray(high, x.dtype), jnp.asarray(low, x.dtype))
    return jnp.where(hit, noise, x)


KINDS = {"gaussian": gaussian, "masking": masking, "salt_and_pepper": salt_and_pepper}


def corrupt(rng, x, kind: str, rate: float) -> jax.Array:
    """x corrupted by `kind` ('none' or one of KINDS) at `rate`. Shape: [B, ...] -> [B, ...]."""
    if kind == "none":
        return x
    if kind not in KINDS:
        raise ValueError(f"Unknown corruption {kind!r}; choose 'none' or one of {sorted(KINDS)}.")
    if not rate >= 0.0 or (kind != "gaussian" and rate > 1.0):
        raise ValueError(
            f"corruption rate {rate} for {kind!r} must be a noise std >= 0 (gaussian) or a "
            "probability in [0, 1] (masking, salt_and_pepper)."
        )
    return KINDS[kind](rng, x, rate)
