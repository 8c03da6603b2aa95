"""Small synthetic data with known structure, for tests of models, losses and pipelines.

`markov_tokens` has a known entropy rate (log(branching) nats per token), so a model that learns it
reaches a loss it can be checked against; `repeating_tokens` is fully predictable after one period;
`gaussian_blobs` is a separable classification set shaped like the digits arrays.
"""

import numpy as np

# Transition tables are dense over contexts: keep them small enough for tests.
MAX_CONTEXTS = 1 << 20


def markov_tokens(n: int, vocab_size: int, seed: int, order: int = 1, branching: int = 4):
    """A stream from a random sparse Markov chain of `order`. Shape: int32 [n].

    Each context (the previous `order` tokens) has `branching` distinct successors, chosen at random
    and followed with equal probability, so the entropy rate is log(branching) nats per token: an
    n-gram model of this order approaches it and a unigram model cannot. The first `order` tokens
    are uniform.
    """
    num_contexts = vocab_size**order
    if num_contexts > MAX_CONTEXTS or not 1 <= branching <= vocab_size:
        raise ValueError(
            f"vocab_size={vocab_size} ** order={order} must be at most {MAX_CONTEXTS} contexts and "
            f"branching={branching} in [1, vocab_size]; use a smaller vocabulary or order."
        )
    rng = np.random.default_rng(seed)
    # Successors of context c are (base[c] + shift[j]) % V: distinct because the shifts are.
    base = rng.integers(vocab_size, size=num_contexts).tolist()
    shift = rng.choice(vocab_size, size=branching, replace=False).tolist()
    choice = rng.integers(branching, size=n).tolist()
    tokens = rng.integers(vocab_size, size=min(order, n)).tolist()
    context = 0
    for t in tokens:
        context = context * vocab_size + t
    for i in range(len(tokens), n):
        t = (base[context] + shift[choice[i]]) % vocab_size
        tokens.append(t)
        context = (context * vocab_size + t) % num_contexts
    return np.array(tokens, np.int32)


def repeating_tokens(n: int, period: int, vocab_size: int) -> np.ndarray:
    """0, 1, ..., period - 1 (taken modulo vocab_size), repeated to length n. Shape: int32 [n]."""
    return (np.arange(n) % period % vocab_size).astype(np.int32)


def gaussian_blobs(n: int, dim: int, num_classes: int, seed: int) -> dict[str, np.ndarray]:
    """Points around one random center per class: unit noise, centers about 4 apart.

    Shapes: {'image': float32 [n, dim], 'label': int32 [n]}.
    """
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0 / np.sqrt(2.0 * dim), size=(num_classes, dim))
    label = rng.integers(num_classes, size=n)
    image = centers[label] + rng.normal(size=(n, dim))
    return {"image": image.astype(np.float32), "label": label.astype(np.int32)}
