"""The masked-LM pre-training task's pieces by hand: [CLS] rows, the unigram baseline, and eval
batches whose masks are drawn once and never touch padding or special ids."""

import ml_collections
import numpy as np
import pytest

from research.tasks import mlm
from research.text import special_tokens

CLS, SEP, PAD, MASK = 1, 2, 0, 4


def test_special_ids_are_the_projects():
    assert (mlm.CLS, mlm.SEP, mlm.PAD, special_tokens.MASK_ID) == (CLS, SEP, PAD, MASK)


def test_with_cls_and_unigram_loss_by_hand():
    np.testing.assert_array_equal(mlm.with_cls(np.array([[7, 8], [9, 9]])), [[1, 7, 8], [1, 9, 9]])
    # counts + 1 over 4 ids: [1, 3, 2, 1] / 7; two masked targets, ids 1 and 2
    batches = [{"mlm_targets": np.array([[1, 2, 3]]), "mlm_weights": np.array([[1.0, 1.0, 0.0]])}]
    loss = mlm.unigram_loss(np.array([1, 1, 2]), batches, vocab_size=4)
    assert loss == pytest.approx(-(np.log(3 / 7) + np.log(2 / 7)) / 2)


def test_masked_eval_batches_are_fixed_and_skip_padding_and_specials():
    config = ml_collections.ConfigDict(
        {"seed": 0, "masking": {"rate": 0.15, "mask_fraction": 0.8, "random_fraction": 0.1}}
    )
    tokens = np.arange(10, 10 + 7 * 31).reshape(7, 31) % 900 + 10
    tokens[:, 5] = SEP
    weights = np.ones((7, 31), np.float32)
    weights[6, 10:] = 0  # the padded tail of the stream
    weights[5:6] = 0  # a whole padding row
    batch = {"inputs": np.where(weights > 0, tokens, 0), "weights": weights}
    first = mlm.masked_eval_batches([batch], config, vocab_size=1024)[0]
    again = mlm.masked_eval_batches([batch], config, vocab_size=1024)[0]
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    selected = first["mlm_weights"] > 0
    assert selected.sum() > 0
    assert not selected[:, 0].any() and not selected[:, 6].any()  # [CLS] and [SEP] never
    assert not selected[5].any() and not selected[6, 11:].any()  # padding never
    np.testing.assert_array_equal(first["attention_mask"][6, :11], 1)
    np.testing.assert_array_equal(first["attention_mask"][6, 11:], 0)
    assert first["attention_mask"][5].sum() == 0
    np.testing.assert_array_equal(first["mlm_targets"][:, 1:], batch["inputs"])
    assert (first["mlm_inputs"][selected] == MASK).mean() > 0.5


@pytest.mark.parametrize("rate", [0.0, -0.1, 1.5])
def test_a_masking_rate_outside_0_1_is_refused_up_front_naming_the_flag(tmp_path, rate):
    # Bug: rate=0 passed every check, trained a tokenizer, then died in a ZeroDivisionError.
    config = ml_collections.ConfigDict({"masking": {"rate": rate}})  # nothing else is read first
    with pytest.raises(ValueError) as e:
        mlm.pretrain_task(config, tmp_path)
    assert str(e.value) == (
        f"--config.masking.rate={rate} is outside (0, 1]: it is the share of tokens masked, and "
        "the model learns only from masked ones; set --config.masking.rate=0.15 (BERT's rate)."
    )
    with pytest.raises(ValueError, match=r"^--config\.mlm\.masking\.rate=.* set --config\.mlm\."):
        mlm.pretrain_task(config, tmp_path, flag_prefix="mlm")  # contextual_vectors' section
