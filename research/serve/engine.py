"""The serving engine: requests in, tokens out, many requests at once on one paged cache.

    engine = Engine(model, params, num_blocks=256)
    engine.add_request([17, 4, 99], SamplingParams(max_tokens=20, temperature=0))
    while engine.has_work:
        for output in engine.step():   # every request that advanced this step
            print(output.request_id, output.new_token_ids, output.finish_reason)

`step` asks the scheduler (`research.serve.scheduler`, continuous batching with chunked prefill)
which tokens to compute, copies blocks that a sequence is about to write but shares
(`research.serve.block_pool`), runs the decode rows (one token each) and the prefill chunks
(up to `chunk_size` tokens each) as two jitted calls on the paged cache
(`research.nn.paged_kv_cache`), draws every sampling row's next token on the device under its
own settings (`research.serve.sampling_params.choose_tokens`), and ends the requests that hit a
stop id, a stop string, their `max_tokens` or the model's length.

Shapes stay in a small fixed set, so serving does not compile per request: the rows of a call
are padded to a power of two (at most `max_seqs`; a multiple of the mesh's batch shards), prefill
chunks to `chunk_size` tokens, and the block tables of decode rows to a power of two of blocks
(prefill rows always address max_length / block_size blocks). A call whose rows are all greedy
takes the argmax without sorting the vocabulary (a second variant of its shape). Each new variant
is logged and counted in `compilations`.

The model is any decoder that takes the cache protocol of `research.generate.decoding` with
`research.nn.kv_cache.KVCache` layers (`transformer_lm`: a GPT workdir's checkpoint, an imported
GPT-2): the engine reads the layers' shapes from `model.init_cache` and hands the model
{'block_{i}': PagedKVCache} in their place. An encoder-decoder (`t5`) is served the same way on
its decoder: a request's prompt is the encoder input, encoded once when the request is admitted
and kept in a slot (`research.serve.encoder_slots`) that every decode step reads for the
cross-attention; the decoder starts from the model's start token (`pad_id`). Its cache is the
model's own (`T5Cache`) with the encoder outputs of the batch's rows and paged layers. Under a `mesh` the parameters shard by their logical
axes and the pages by their heads, like the attention activations (tensor-parallel serving).
"""

import contextlib
import dataclasses
import functools
import itertools
import random
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.sharding import NamedSharding

from research.generate.decoding import is_encoder_decoder
from research.nn.kv_cache import KVCache
from research.nn.paged_kv_cache import NULL_BLOCK, PagedKVCache
from research.serve.block_pool import BlockPool
from research.serve.encoder_slots import NULL_SLOT, EncoderSlots
from research.serve.sampling_params import SamplingParams, choose_tokens
from research.serve.scheduler import Chunk, Scheduler
from research.serve.scheduler import Sequence as SequenceState
from research.serve.stop_strings import visible_text
from research.sharding import partition
from research.sharding.axes import RULES

PAGE_AXES = (None, None, "heads", "kv")  # [P,S,K,H]: the pages shard like the attention's heads


@dataclasses.dataclass
class RequestOutput:
    """What a request has after a step. `text` (with a `detokenize`) is the generated text that
    is final: cut before a stop string, and without a tail that may still become one or that
    ends inside a character; it only grows."""

    request_id: str
    prompt_length: int
    token_ids: list[int]  # every generated token so far
    new_token_ids: list[int]  # those of this step
    logprobs: list[float]  # log_softmax(logits)[token] of each generated token
    text: str | None
    finish_reason: str | None  # None while running; 'stop', 'length' or 'abort'
    logits: np.ndarray | None = None  # float32 [V] that chose this step's token (record_logits)


class Engine:
    def __init__(
        self,
        model,
        params,
        *,
        num_blocks: int,
        block_size: int = 16,
        max_seqs: int = 16,
        chunk_size: int = 64,
        max_step_tokens: int = 256,
        max_length: int | None = None,
        max_input_length: int | None = None,
        eos_id: int | None = None,
        detokenize: Callable[[list[int]], str] | None = None,
        mesh=None,
        rules: Sequence = RULES,
        record_logits: bool = False,
    ):
        """Args:
        model, params: a decoder (see the module docstring) and its parameters.
        num_blocks, block_size: the pool: num_blocks blocks of block_size positions (block 0
          is the null block, so num_blocks - 1 hold tokens).
        max_seqs: the most requests running at once (the decode batch).
        chunk_size: the most prompt tokens one request computes in a step.
        max_step_tokens: the step's token budget (decodes count 1, prefill chunks their length).
        max_length: prompt + generated tokens per request; default the model's max_len. For an
          encoder-decoder: decoder tokens (the start token and the answer); required when
          the model has no max_len (T5's relative positions have none).
        max_input_length: an encoder-decoder's longest encoder input (default max_length).
        eos_id: ends a request when generated, unless its SamplingParams say ignore_eos.
        detokenize: token ids -> text; needed for stop strings and `RequestOutput.text`.
        mesh, rules: serve sharded over this mesh with these logical axis rules.
        record_logits: also return the logits each token was chosen from (tests, evaluation).
        """
        self.model, self.eos_id, self.detokenize = model, eos_id, detokenize
        self.vocab_size = model.config.vocab_size
        self.max_length = max_length or getattr(model.config, "max_len", None)
        if self.max_length is None:
            raise ValueError(
                f"{type(model).__name__} has no max_len; pass max_length (the most decoder "
                "tokens a request may hold)."
            )
        if self.max_length > getattr(model.config, "max_len", self.max_length):
            raise ValueError(
                f"max_length={self.max_length} exceeds the model's max_len={model.config.max_len}."
            )
        implementation = getattr(model.config, "attention_impl", None)
        if implementation not in (None, "xla", "cudnn"):
            raise ValueError(
                f"The engine serves dense attention (attention_impl None, 'xla' or 'cudnn'), "
                f"got {implementation!r}; load the model with attention_impl=None to serve it."
            )
        self.pool = BlockPool(num_blocks, block_size)
        self.scheduler = Scheduler(
            self.pool, max_seqs=max_seqs, chunk_size=chunk_size, max_step_tokens=max_step_tokens
        )
        self.chunk_size, self.record_logits = chunk_size, record_logits
        self.max_blocks = -(-self.max_length // block_size)
        self.mesh, self.rules = mesh, tuple(rules)
        self.params, self.pages = self._place(params, num_blocks, block_size)
        self.row_multiple = self._batch_shards()
        self.encoders = None  # an encoder-decoder's encoder outputs, one slot per running request
        if is_encoder_decoder(model):
            cfg = model.config
            self.encoders = EncoderSlots(
                model, max_seqs, max_input_length or self.max_length, cfg.embed_dim, cfg.dtype
            )
        self.compilations: list[tuple] = []  # the step shapes compiled so far, in order
        self.num_block_copies = 0  # copies on write
        self._sequences: dict[str, SequenceState] = {}
        self._ids = itertools.count()

    def _place(self, params, num_blocks, block_size):
        """The parameters and empty pages, sharded over the mesh when there is one."""
        layers = jax.eval_shape(lambda: self.model.init_cache(1, 1))
        layers = getattr(layers, "layers", layers)  # an encoder-decoder's cache holds them
        shapes = [
            (name, kv.key.shape[2:], kv.key.dtype)
            for name, kv in layers.items()
            if isinstance(kv, KVCache)
        ]
        if not shapes:
            raise ValueError(
                f"{type(self.model).__name__}.init_cache holds no KVCache layers; the engine "
                "serves decoders whose layers keep keys and values (transformer_lm)."
            )
        pages = {
            name: PagedKVCache.pool(num_blocks, block_size, *shape, dtype)
            for name, shape, dtype in shapes
        }
        params = partition.strip_boxes(params)  # `model.init` boxes them with their axes
        if self.mesh is None:  # on the device once, not copied in at every step
            return jax.device_put(params), pages
        spec = nn.logical_to_mesh_axes(PAGE_AXES, list(self.rules))
        pages = jax.device_put(pages, NamedSharding(self.mesh, spec))
        boxed = jax.eval_shape(
            lambda: self.model.init(jax.random.PRNGKey(0), jnp.zeros((1, 1), jnp.int32))
        )["params"]
        shardings = partition.state_shardings(boxed, self.mesh, self.rules)
        return jax.device_put(params, shardings), pages

    def _batch_shards(self) -> int:
        """How many ways the mesh splits a batch: every call's rows are a multiple of it."""
        if self.mesh is None:
            return 1
        (axes,) = nn.logical_to_mesh_axes(("batch",), list(self.rules))
        axes = () if axes is None else (axes,) if isinstance(axes, str) else axes
        return int(np.prod([self.mesh.shape[a] for a in axes]))

    def add_request(
        self, prompt: Sequence[int], params: SamplingParams, request_id: str | None = None
    ) -> str:
        """Queues a request -> its id. Raises ValueError for a prompt or settings it cannot serve."""
        prompt = [int(t) for t in prompt]
        if not prompt:
            raise ValueError("The prompt is empty; give at least one token.")
        if min(prompt) < 0 or max(prompt) >= self.vocab_size:
            raise ValueError(
                f"Prompt token ids must lie in [0, {self.vocab_size}), got "
                f"[{min(prompt)}, {max(prompt)}]."
            )
        if self.encoders is not None and len(prompt) > self.encoders.max_input_length:
            raise ValueError(
                f"The prompt has {len(prompt)} tokens; this model's encoder takes at most "
                f"{self.encoders.max_input_length}. Shorten it."
            )
        if self.encoders is None and len(prompt) >= self.max_length:
            raise ValueError(
                f"The prompt has {len(prompt)} tokens; this model serves at most "
                f"{self.max_length} tokens per request, prompt and answer together. Shorten it."
            )
        params.check(self.vocab_size)
        if params.stop and self.detokenize is None:
            raise ValueError("stop strings need the engine's detokenize; pass stop_ids instead.")
        request_id = request_id or f"request-{next(self._ids)}"
        if request_id in self._sequences:
            raise ValueError(f"A request with id {request_id!r} is already running.")
        seed = params.seed if params.seed is not None else random.getrandbits(32)
        if self.encoders is None:
            sequence = SequenceState(request_id, prompt, len(prompt), params, seed)
        else:  # the decoder starts from its start token; the prompt is the encoder's
            start = [self.model.config.pad_id]
            sequence = SequenceState(
                request_id, start, 1, params, seed, encoder_tokens=tuple(prompt)
            )
        self._sequences[request_id] = sequence
        self.scheduler.add(sequence)
        return request_id

    def abort(self, request_id: str) -> None:
        """Ends a request now and frees its blocks (a client that went away); unknown ids are
        ignored (it may have just finished)."""
        sequence = self._sequences.pop(request_id, None)
        if sequence is not None:
            sequence.finish_reason = "abort"
            self.scheduler.remove(sequence)
            if self.encoders is not None:
                self.encoders.release(request_id)

    @property
    def has_work(self) -> bool:
        return self.scheduler.has_work

    @property
    def num_free_blocks(self) -> int:
        return self.pool.num_free

    def generate(self, prompts: Sequence[Sequence[int]], params) -> list[RequestOutput]:
        """Runs `prompts` (with one SamplingParams, or one each) to the end -> their final outputs,
        in order."""
        params = [params] * len(prompts) if isinstance(params, SamplingParams) else list(params)
        ids = [self.add_request(p, s) for p, s in zip(prompts, params, strict=True)]
        final = {}
        while self.has_work:
            for output in self.step():
                if output.finish_reason is not None:
                    final[output.request_id] = output
        return [final[i] for i in ids]

    def step(self) -> list[RequestOutput]:
        """Computes one scheduled step -> an output for every request that advanced."""
        plan = self.scheduler.schedule()
        if self.encoders is not None:
            self._encode_admitted()
        if plan.copies:
            self.num_block_copies += len(plan.copies)
            self.pages = _copy_blocks(self.pages, *self._padded_copies(plan.copies))
        outputs = []
        for chunks in (plan.decode, plan.prefill):
            if chunks:
                outputs += self._run(chunks)
        return outputs

    def _encode_admitted(self) -> None:
        """Encoder slots follow the running set: preempted requests give theirs back, newly
        admitted ones are encoded (all in one call)."""
        for sequence in self.scheduler.waiting:
            self.encoders.release(sequence.request_id)
        admitted = {
            s.request_id: s.encoder_tokens
            for s in self.scheduler.running
            if s.request_id not in self.encoders
        }
        if admitted:
            self.encoders.encode(self.params, admitted, self._rows(len(admitted)))

    def _rows(self, count: int) -> int:
        """The padded row count of a call with `count` rows."""
        rows = max(min(1 << (count - 1).bit_length(), self.scheduler.max_seqs), count)
        return -(-rows // self.row_multiple) * self.row_multiple  # whole shards of the batch

    def _padded_copies(self, copies):
        count = 1 << (len(copies) - 1).bit_length()  # a power of two: few shapes
        pairs = np.full((count, 2), NULL_BLOCK, np.int32)
        pairs[: len(copies)] = copies
        return jnp.asarray(pairs[:, 0]), jnp.asarray(pairs[:, 1])

    def _run(self, chunks: list[Chunk]) -> list[RequestOutput]:
        rows = self._rows(len(chunks))
        length = (
            1 if chunks[0].length == 1 and all(c.length == 1 for c in chunks) else self.chunk_size
        )
        if length == 1:  # decode: reading the cache is most of the work, so read no more
            blocks = max(-(-(c.start + c.length) // self.pool.block_size) for c in chunks)
            blocks = min(1 << (blocks - 1).bit_length(), self.max_blocks)
        else:  # prefill: the chunk's compute dominates; one table width, fewer compilations
            blocks = self.max_blocks
        tokens = np.zeros((rows, length), np.int32)
        table = np.full((rows, blocks), NULL_BLOCK, np.int32)
        index, last = np.zeros(rows, np.int32), np.zeros(rows, np.int32)
        temperature, top_p = np.zeros(rows, np.float32), np.ones(rows, np.float32)
        top_k, counters = np.zeros(rows, np.int32), np.zeros(rows, np.int32)
        seeds = np.zeros(rows, np.uint32)
        slots = np.full(rows, NULL_SLOT, np.int32)
        for r, chunk in enumerate(chunks):
            seq = chunk.sequence
            tokens[r, : chunk.length] = seq.tokens[chunk.start : chunk.start + chunk.length]
            used = seq.blocks[:blocks]
            table[r, : len(used)] = used
            index[r], last[r] = chunk.start, chunk.length - 1
            p = seq.params
            temperature[r], top_k[r], top_p[r] = p.temperature, p.top_k, p.top_p
            seeds[r], counters[r] = seq.seed, seq.num_generated
            if self.encoders is not None:
                slots[r] = self.encoders.slot(seq.request_id)
        encoder = None
        if self.encoders is not None:
            encoder = (self.encoders.encoded, self.encoders.mask, slots)
        greedy = bool((temperature == 0).all())
        shape = ("decode" if length == 1 else "prefill", rows, length, blocks, greedy)
        if shape not in self.compilations:
            self.compilations.append(shape)
            logging.info("serving engine: compiling the %s step for %d rows of %d tokens, %d "
                         "blocks per row (greedy: %s)", *shape)  # fmt: skip
        with self._sharding():
            chosen, logprobs, logits, self.pages = _forward(
                self.model, self.params, self.pages, encoder, tokens, table, index, last,
                temperature, top_k, top_p, seeds, counters, keep_logits=self.record_logits,
                greedy=greedy,
            )  # fmt: skip
        chosen, logprobs = np.asarray(chosen), np.asarray(logprobs)
        logits = None if logits is None else np.asarray(logits)
        outputs = []
        for r, chunk in enumerate(chunks):
            seq = chunk.sequence
            seq.num_cached += chunk.length
            self._offer_full_blocks(seq)
            if chunk.samples:
                seq.tokens.append(int(chosen[r]))
                seq.logprobs.append(float(logprobs[r]))
                outputs.append(self._advance(seq, None if logits is None else logits[r]))
        return outputs

    def _offer_full_blocks(self, seq: SequenceState) -> None:
        """Registers the sequence's newly completed blocks with the prefix cache."""
        full = seq.num_cached // self.pool.block_size
        if full > seq.num_registered:
            keys = self.pool.prefix_keys(
                seq.tokens[: full * self.pool.block_size], seq.encoder_tokens
            )
            for i in range(seq.num_registered, full):
                self.pool.register(seq.blocks[i], keys[i])
            seq.num_registered = full

    def _advance(self, seq: SequenceState, logits) -> RequestOutput:
        """The output after `seq` got a token; ends it when it should stop."""
        token, params = seq.tokens[-1], seq.params
        stops = set(params.stop_ids) | (
            set() if params.ignore_eos or self.eos_id is None else {self.eos_id}
        )
        generated = seq.tokens[seq.prompt_length :]
        text = None
        if token in stops:
            seq.finish_reason = "stop"
        elif seq.num_generated >= params.max_tokens or len(seq.tokens) >= self.max_length:
            seq.finish_reason = "length"
        if self.detokenize is not None:
            text, stopped = visible_text(
                self.detokenize(generated), params.stop, final=seq.finish_reason is not None
            )
            if stopped:
                seq.finish_reason = "stop"
        if seq.finish_reason is not None:
            self._sequences.pop(seq.request_id, None)
            self.scheduler.remove(seq)
            if self.encoders is not None:
                self.encoders.release(seq.request_id)
        return RequestOutput(
            request_id=seq.request_id,
            prompt_length=seq.prompt_length
            if seq.encoder_tokens is None
            else len(seq.encoder_tokens),
            token_ids=list(generated),
            new_token_ids=[token],
            logprobs=list(seq.logprobs),
            text=text,
            finish_reason=seq.finish_reason,
            logits=logits,
        )

    def _sharding(self):
        stack = contextlib.ExitStack()
        if self.mesh is not None:
            stack.enter_context(jax.set_mesh(self.mesh))
            stack.enter_context(nn.logical_axis_rules(list(self.rules)))
        return stack


@functools.partial(
    jax.jit, static_argnames=("model", "keep_logits", "greedy"), donate_argnames=("pages",)
)
def _forward(model, params, pages, encoder, tokens, table, index, last, temperature, top_k, top_p,
             seeds, counters, *, keep_logits, greedy):  # fmt: skip
    """One model call on the paged cache, then a token for every row.

    pages: {layer name: (keys, values) [P,S,K,H]}, the model's cache layers. encoder: None, or
    an encoder-decoder's (encoded [slots,S,D], mask [slots,S], the rows' slots int32 [B]).
    Shapes: tokens int32 [B,T] (row r's tokens from position index[r]; past its chunk, padding);
    table int32 [B,M]; index, last int32 [B] (the chunk's last token is tokens[r, last[r]]);
    sampling settings [B] (`choose_tokens`; `greedy`: every row's temperature is 0) -> tokens int32 [B], logprobs float32 [B], logits
    float32 [B,V] or None, the updated pages.
    """
    layers = {name: PagedKVCache(k, v, table, index) for name, (k, v) in pages.items()}
    if encoder is None:
        logits, layers = model.apply({"params": params}, tokens, cache=layers)  # [B,T,V]
    else:
        encoded, encoded_mask, slots = encoder
        cache = model.init_cache(tokens.shape[0], 1).replace(
            encoded=encoded[slots], encoded_mask=encoded_mask[slots], layers=layers
        )
        logits, cache = model.apply({"params": params}, tokens, cache=cache)
        layers = cache.layers
    logits = jnp.take_along_axis(logits, last[:, None, None], axis=1)[:, 0]  # [B,V]
    if greedy:  # every row: the argmax, without the sort top-k and top-p need
        chosen = jnp.argmax(logits, axis=-1).astype(jnp.int32)
        logprobs = jnp.take_along_axis(jax.nn.log_softmax(logits), chosen[:, None], axis=-1)[:, 0]
    else:
        chosen, logprobs = choose_tokens(logits, temperature, top_k, top_p, seeds, counters)
    pages = {name: (layers[name].key_pages, layers[name].value_pages) for name in pages}
    return chosen, logprobs, (logits if keep_logits else None), pages


@functools.partial(jax.jit, donate_argnames=("pages",))
def _copy_blocks(pages, sources, destinations):
    """Copies block sources[i] to destinations[i] in every layer's keys and values (copy on
    write; padding pairs copy the null block onto itself)."""
    return jax.tree.map(lambda p: p.at[destinations].set(p[sources]), pages)
