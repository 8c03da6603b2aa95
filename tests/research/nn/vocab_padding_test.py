"""Vocabulary padding: exact rounding up, the identity at multiple 1, refusals."""

import pytest

from research.nn.vocab_padding import padded_vocab_size


@pytest.mark.parametrize(
    "vocab_size, multiple, expected",
    [(257, 64, 320), (256, 64, 256), (1, 128, 128), (1000, 1, 1000), (129, 128, 256)],
)
def test_rounds_up_to_the_next_multiple(vocab_size, multiple, expected):
    assert padded_vocab_size(vocab_size, multiple) == expected


@pytest.mark.parametrize("vocab_size, multiple", [(0, 64), (10, 0), (-3, 8)])
def test_refuses_non_positive_sizes(vocab_size, multiple):
    with pytest.raises(ValueError, match="positive integers"):
        padded_vocab_size(vocab_size, multiple)
