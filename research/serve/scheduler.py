"""Continuous batching: which tokens of which requests the next engine step computes.

Every step, each running sequence advances by a chunk of its pending tokens (those whose keys and
values are not in the cache yet): one token for a sequence that is generating (decode), up to
`chunk_size` of the prompt for one that is still reading it (chunked prefill), all under a budget
of `max_step_tokens` tokens, decodes first, so a long prompt is read over several steps while the
running answers keep coming. Waiting requests join whenever the budget, the row limit `max_seqs`
and the free blocks allow; finished ones leave at once (the engine frees their blocks). There is
no fixed batch that everyone waits on: that is the difference from static batching.

When a growing sequence needs a block and none is free, the most recently admitted sequence is
preempted: its blocks are freed and it goes back to the front of the queue with the tokens it has
(its prompt and what it generated), to be recomputed when blocks free up (vLLM's "recompute"
preemption). Its output so far is kept, and a seeded request still continues the same text.
"""

import collections
import dataclasses

from research.serve.block_pool import BlockPool, OutOfBlocks
from research.serve.sampling_params import SamplingParams


@dataclasses.dataclass(eq=False)
class Sequence:
    """One request's state. `tokens` holds the prompt, then the generated tokens; the first
    `num_cached` of them have their keys and values in the blocks `blocks` (position p in
    blocks[p // S])."""

    request_id: str
    tokens: list[int]
    prompt_length: int
    params: SamplingParams
    seed: int
    blocks: list[int] = dataclasses.field(default_factory=list)
    num_cached: int = 0
    num_registered: int = 0  # leading full blocks offered to the prefix cache
    # An encoder-decoder's encoder input: the decoder's keys and values depend on it too, so it
    # roots the sequence's prefix keys (None for a decoder-only model).
    encoder_tokens: tuple[int, ...] | None = None
    logprobs: list[float] = dataclasses.field(default_factory=list)
    finish_reason: str | None = None

    @property
    def num_generated(self) -> int:
        return len(self.tokens) - self.prompt_length

    @property
    def num_pending(self) -> int:
        return len(self.tokens) - self.num_cached


@dataclasses.dataclass
class Chunk:
    """Tokens [start, start + length) of `sequence` computed this step; `samples` when they reach
    its last token, so the step draws the sequence's next token from their last logits."""

    sequence: Sequence
    start: int
    length: int

    @property
    def samples(self) -> bool:
        return self.start + self.length == len(self.sequence.tokens)


@dataclasses.dataclass
class Plan:
    decode: list[Chunk]  # chunks of one token
    prefill: list[Chunk]  # longer chunks
    copies: list[tuple[int, int]]  # (source block, destination block), before the step

    @property
    def empty(self) -> bool:
        return not (self.decode or self.prefill)


class Scheduler:
    def __init__(self, pool: BlockPool, *, max_seqs: int, chunk_size: int, max_step_tokens: int):
        if min(max_seqs, chunk_size, max_step_tokens) < 1 or max_step_tokens < max_seqs:
            raise ValueError(
                f"max_seqs={max_seqs}, chunk_size={chunk_size} and max_step_tokens="
                f"{max_step_tokens} must be >= 1, with max_step_tokens >= max_seqs (every "
                "running sequence decodes a token each step)."
            )
        self.pool = pool
        self.max_seqs, self.chunk_size, self.max_step_tokens = max_seqs, chunk_size, max_step_tokens
        self.waiting: collections.deque[Sequence] = collections.deque()
        self.running: list[Sequence] = []  # in admission order
        self.num_preemptions = 0

    def add(self, sequence: Sequence) -> None:
        self.waiting.append(sequence)

    def remove(self, sequence: Sequence) -> None:
        """Takes a sequence out (finished or aborted) and frees its blocks."""
        if sequence in self.running:
            self.running.remove(sequence)
        elif sequence in self.waiting:
            self.waiting.remove(sequence)
        self.pool.free(sequence.blocks)
        sequence.blocks = []

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def schedule(self) -> Plan:
        plan = Plan([], [], [])
        budget = self.max_step_tokens
        for sequence in sorted(self.running, key=lambda s: s.num_pending > 1):  # decodes first
            if sequence not in self.running:  # preempted below to make room for an earlier one
                continue
            length = min(sequence.num_pending, self.chunk_size, budget)
            if length == 0:
                break
            while sequence in self.running:
                try:
                    plan.copies += self._reserve(sequence, length)
                    break
                except OutOfBlocks:
                    self._preempt(self._victim(plan))
            else:
                continue  # it preempted itself: nothing else needed its blocks
            self._add_chunk(plan, Chunk(sequence, sequence.num_cached, length))
            budget -= length
        while self.waiting and budget > 0 and len(self.running) < self.max_seqs:
            sequence = self.waiting[0]
            if not sequence.blocks:
                sequence.blocks = self.pool.share_prefix(sequence.tokens, sequence.encoder_tokens)
                sequence.num_registered = len(sequence.blocks)
                # At least the last token is computed: its logits choose the next one.
                sequence.num_cached = min(
                    len(sequence.blocks) * self.pool.block_size, len(sequence.tokens) - 1
                )
            length = min(sequence.num_pending, self.chunk_size, budget)
            try:
                plan.copies += self._reserve(sequence, length)
            except OutOfBlocks:
                break  # the running sequences keep their blocks; it waits
            self.waiting.popleft()
            self.running.append(sequence)
            self._add_chunk(plan, Chunk(sequence, sequence.num_cached, length))
            budget -= length
        return plan

    @staticmethod
    def _add_chunk(plan: Plan, chunk: Chunk) -> None:
        (plan.decode if chunk.length == 1 else plan.prefill).append(chunk)

    def _reserve(self, sequence: Sequence, length: int) -> list[tuple[int, int]]:
        """Blocks for tokens [num_cached, num_cached + length) of `sequence`, each one it will
        write only its own -> the block copies that requires. Changes nothing when it raises."""
        size = self.pool.block_size
        end = sequence.num_cached + length
        missing = -(-end // size) - len(sequence.blocks)
        first_written = sequence.num_cached // size
        shared = first_written < len(sequence.blocks) and (
            self.pool.ref_count[sequence.blocks[first_written]] > 1
        )
        if max(missing, 0) + shared > self.pool.num_free:
            raise OutOfBlocks(f"{sequence.request_id} needs {max(missing, 0) + shared} blocks")
        copies = []
        if first_written < len(sequence.blocks):  # only the first written block can be shared
            block, source = self.pool.writable(sequence.blocks[first_written])
            sequence.blocks[first_written] = block
            if source is not None:
                copies.append((source, block))
        if missing > 0:
            sequence.blocks += self.pool.allocate(missing)
        return copies

    def _victim(self, plan: Plan) -> Sequence:
        """The most recently admitted running sequence not scheduled yet this step (the one
        asking for blocks, when every later one is scheduled)."""
        scheduled = {id(chunk.sequence) for chunk in plan.decode + plan.prefill}
        return next(s for s in reversed(self.running) if id(s) not in scheduled)

    def _preempt(self, sequence: Sequence) -> None:
        """Frees `sequence`'s blocks and puts it back at the front of the queue, to be recomputed."""
        self.running.remove(sequence)
        self.pool.free(sequence.blocks)
        sequence.blocks, sequence.num_cached, sequence.num_registered = [], 0, 0
        self.waiting.appendleft(sequence)
        self.num_preemptions += 1
