"""Host-side bookkeeping of the paged cache's blocks: which are free, how many sequences use each,
and which full blocks hold a known prompt prefix (so a new request with that prefix reuses them).

The device holds the pages (`research.nn.paged_kv_cache`); this class only hands out block
numbers. Block 0 is the null block and is never handed out.

Prefix sharing (vLLM's automatic prefix caching): a block whose S slots are all written is
registered under a key naming its tokens AND every token before it (the chain key of the
previous block and this block's tokens), so equal keys mean equal keys and values in the cache.
A new sequence looks its prompt's full blocks up in order and shares every block found, each
reference counted. A freed block keeps its registration while it sits in the free list (least
recently freed handed out first), so a later request can still find it; it is forgotten when it is
handed out again. A sequence about to write into a block that others share first gets its own
copy (`writable`: copy on write).
"""

import collections
from collections.abc import Sequence

from research.nn.paged_kv_cache import NULL_BLOCK

PrefixKey = tuple[
    object, tuple[int, ...]
]  # (the previous block's key or None, this block's tokens)


class OutOfBlocks(Exception):
    """The pool has fewer free blocks than asked for (the scheduler preempts and retries)."""


class BlockPool:
    def __init__(self, num_blocks: int, block_size: int):
        if num_blocks < 2 or block_size < 1:
            raise ValueError(
                f"A block pool needs num_blocks >= 2 (block 0 is the null block) and "
                f"block_size >= 1, got {num_blocks} and {block_size}."
            )
        self.num_blocks, self.block_size = num_blocks, block_size
        self.ref_count = [0] * num_blocks
        # Free blocks in the order they were freed (oldest first); an ordered dict so that a
        # cached free block can leave from the middle when a new sequence shares it.
        self._free = collections.OrderedDict.fromkeys(range(1, num_blocks))
        self._block_of_key: dict[PrefixKey, int] = {}
        self._key_of_block: dict[int, PrefixKey] = {}
        self.num_prefix_hits = 0  # blocks found by `share_prefix` (prompt positions not recomputed)

    @property
    def num_free(self) -> int:
        return len(self._free)

    def allocate(self, count: int) -> list[int]:
        """`count` blocks with reference count 1 (their old prefix registrations dropped)."""
        if count > len(self._free):
            raise OutOfBlocks(f"asked for {count} blocks, {len(self._free)} free")
        blocks = []
        for _ in range(count):
            block, _ = self._free.popitem(last=False)
            key = self._key_of_block.pop(block, None)
            if key is not None:
                del self._block_of_key[key]
            self.ref_count[block] = 1
            blocks.append(block)
        return blocks

    def free(self, blocks: Sequence[int]) -> None:
        """Drops one reference to each block; a block nobody uses goes back to the free list."""
        for block in blocks:
            if block == NULL_BLOCK or self.ref_count[block] < 1:
                raise ValueError(f"block {block} is not in use; it cannot be freed.")
            self.ref_count[block] -= 1
            if self.ref_count[block] == 0:
                self._free[block] = None

    def prefix_keys(self, tokens: Sequence[int], root=None) -> list[PrefixKey]:
        """The chain keys of the full blocks of `tokens` (len(tokens) // S of them). `root` names
        what else the keys and values depend on (an encoder-decoder's encoder input): the chain
        starts from it, so equal tokens under another root are other keys."""
        keys, previous = [], root
        for start in range(0, len(tokens) - self.block_size + 1, self.block_size):
            previous = (previous, tuple(tokens[start : start + self.block_size]))
            keys.append(previous)
        return keys

    def share_prefix(self, tokens: Sequence[int], root=None) -> list[int]:
        """The registered blocks holding the longest run of `tokens`' leading full blocks (under
        `root`), each with one more reference (an empty list when the first block is unknown)."""
        shared = []
        for key in self.prefix_keys(tokens, root):
            block = self._block_of_key.get(key)
            if block is None:
                break
            if self.ref_count[block] == 0:
                del self._free[block]
            self.ref_count[block] += 1
            shared.append(block)
        self.num_prefix_hits += len(shared)
        return shared

    def register(self, block: int, key: PrefixKey) -> None:
        """Records that `block` (full) holds the tokens `key` names; the first block registered
        under a key stays the one found."""
        if key not in self._block_of_key and block not in self._key_of_block:
            self._block_of_key[key] = block
            self._key_of_block[block] = key

    def writable(self, block: int) -> tuple[int, int | None]:
        """A block the caller may write into in place of `block`: `block` itself when only the
        caller uses it, else a new block (the caller's reference moves to it) -> (block, the
        block to copy from, or None)."""
        if self.ref_count[block] == 1:
            key = self._key_of_block.pop(block, None)  # its contents are about to change
            if key is not None:
                del self._block_of_key[key]
            return block, None
        (copy,) = self.allocate(1)
        self.ref_count[block] -= 1
        return copy, block
