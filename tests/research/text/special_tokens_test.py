"""The fixed special-id layout: pad 0, bos 1, eos 2, unk 3, mask 4, sentinels from 5."""

import pytest

from research.text import special_tokens as st


def test_layout_is_fixed():
    assert st.special_tokens(3) == [
        "<pad>", "<s>", "</s>", "<unk>", "<mask>", "<extra_id_0>", "<extra_id_1>", "<extra_id_2>"
    ]  # fmt: skip
    ids = (st.PAD_ID, st.BOS_ID, st.EOS_ID, st.UNK_ID, st.MASK_ID)
    assert [st.special_tokens(0)[i] for i in ids] == [st.PAD, st.BOS, st.EOS, st.UNK, st.MASK]
    assert st.sentinel_id(0, 3) == 5 and st.sentinel_id(2, 3) == 7


def test_out_of_range_sentinel_refused():
    with pytest.raises(ValueError, match=r"^sentinel 3 is outside \[0, num_sentinels=3\)"):
        st.sentinel_id(3, 3)
    with pytest.raises(ValueError, match="num_sentinels=-1 is negative"):
        st.special_tokens(-1)
