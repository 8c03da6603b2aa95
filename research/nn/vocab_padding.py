"""Rows of a vocabulary-sized table, padded up to a multiple (the one home for this rounding).

Embedding tables and output projections get `padded_vocab_size(vocab_size, multiple)` rows so the
vocabulary axis splits evenly over a mesh axis and matmuls land on tile-friendly sizes; the rows past
`vocab_size` are never looked up, and logits over them are masked or sliced off by the model.
"""


def padded_vocab_size(vocab_size: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that is >= `vocab_size` (multiple=1: unchanged).

    Raises ValueError for a vocabulary below 1 or a multiple below 1.
    """
    if vocab_size < 1 or multiple < 1:
        raise ValueError(
            f"padded_vocab_size needs vocab_size >= 1 and multiple >= 1, got vocab_size="
            f"{vocab_size} and multiple={multiple}; pass positive integers."
        )
    return -(-vocab_size // multiple) * multiple
