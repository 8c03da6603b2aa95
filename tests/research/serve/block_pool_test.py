"""The block pool's bookkeeping, by hand: free list order, reference counts, prefix chain keys,
sharing, and copy on write."""

import pytest

from research.serve.block_pool import BlockPool, OutOfBlocks


def test_allocate_and_free_count_references_and_never_hand_out_the_null_block():
    pool = BlockPool(5, 4)
    assert pool.num_free == 4
    a, b = pool.allocate(2)
    assert (a, b) == (1, 2) and pool.ref_count[1:3] == [1, 1]
    with pytest.raises(OutOfBlocks):
        pool.allocate(3)
    assert pool.num_free == 2  # a refused request takes nothing
    pool.free([a])
    assert pool.allocate(3) == [3, 4, 1]  # least recently freed last
    with pytest.raises(ValueError, match="not in use"):
        pool.free([0])


def test_prefix_keys_name_a_block_and_everything_before_it():
    pool = BlockPool(8, 2)
    keys = pool.prefix_keys([1, 2, 3, 4, 5])
    assert keys == [(None, (1, 2)), ((None, (1, 2)), (3, 4))]  # the partial block has no key
    # The same tokens after another prefix are another key.
    assert pool.prefix_keys([9, 9, 3, 4])[1] != keys[1]


def test_sharing_finds_the_longest_registered_run_and_counts_references():
    pool = BlockPool(8, 2)
    blocks = pool.allocate(3)
    for block, key in zip(blocks, pool.prefix_keys([1, 2, 3, 4, 5, 6]), strict=True):
        pool.register(block, key)
    assert pool.share_prefix([1, 2, 3, 4, 7, 7, 5, 6]) == blocks[:2]
    assert pool.ref_count[blocks[0]] == 2 and pool.num_prefix_hits == 2
    assert pool.share_prefix([2, 1, 3, 4]) == []  # first block differs: nothing after it counts
    # Freed by every user, a registered block waits in the free list and can still be found.
    pool.free(blocks)
    pool.free(blocks[:2])
    free = pool.num_free
    assert pool.share_prefix([1, 2, 3, 4, 5, 6]) == blocks and pool.num_free == free - 3
    # Handed out again, it is forgotten.
    pool.free(blocks)
    pool.allocate(pool.num_free)
    assert pool.share_prefix([1, 2]) == []


def test_writing_a_shared_block_copies_it_first():
    pool = BlockPool(8, 2)
    (block,) = pool.allocate(1)
    pool.register(block, (None, (1, 2)))
    pool.share_prefix([1, 2])  # a second user
    copy, source = pool.writable(block)
    assert source == block and copy != block
    assert pool.ref_count[block] == 1 and pool.ref_count[copy] == 1
    # Its only user writes in place, and the block no longer claims its old tokens.
    assert pool.writable(block) == (block, None)
    assert pool.share_prefix([1, 2]) == []
