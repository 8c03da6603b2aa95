"""Where an encoder-decoder's running requests keep their encoder output while the decoder is
served: the encoder runs once per request (when it is admitted), and every decode step reads the
rows it needs from here for the cross-attention.

The outputs live on the device in one array of `num_slots` + 1 slots (slot 0 is the null slot,
read by the rows that pad a batch; its mask is all False, and a query that may attend no key
gets 0 from the attention), each padded to `max_input_length` positions with a mask of the real
ones. A request holds a slot while it runs; a preempted request gives it back and is encoded
again when it returns (as its decoder keys and values are recomputed).

Shapes: encoded [num_slots + 1, S, D]; mask bool [num_slots + 1, S].
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

NULL_SLOT = 0


class EncoderSlots:
    def __init__(self, model, num_slots: int, max_input_length: int, embed_dim: int, dtype):
        self.model, self.max_input_length = model, max_input_length
        self.encoded = jnp.zeros((num_slots + 1, max_input_length, embed_dim), dtype)
        self.mask = jnp.zeros((num_slots + 1, max_input_length), bool)
        self._free = list(range(num_slots, 0, -1))
        self._slot_of: dict[str, int] = {}

    def __contains__(self, request_id: str) -> bool:
        return request_id in self._slot_of

    def slot(self, request_id: str) -> int:
        return self._slot_of[request_id]

    def release(self, request_id: str) -> None:
        slot = self._slot_of.pop(request_id, None)
        if slot is not None:
            self._free.append(slot)

    def encode(self, params, requests: dict[str, tuple[int, ...]], rows: int) -> None:
        """Runs the encoder on `requests` {request_id: encoder input ids} in one call of `rows`
        rows (>= len(requests); padding rows write the null slot) and stores each output in a
        slot of its own."""
        tokens = np.zeros((rows, self.max_input_length), np.int32)
        mask = np.zeros((rows, self.max_input_length), bool)
        slots = np.full(rows, NULL_SLOT, np.int32)
        for r, (request_id, ids) in enumerate(requests.items()):
            slots[r] = self._slot_of[request_id] = self._free.pop()
            tokens[r, : len(ids)], mask[r, : len(ids)] = ids, True
        self.encoded, self.mask = _encode_into(
            self.model, params, self.encoded, self.mask, tokens, mask, slots
        )


@functools.partial(jax.jit, static_argnames=("model",), donate_argnames=("encoded", "stored_mask"))
def _encode_into(model, params, encoded, stored_mask, tokens, mask, slots):
    """encoded, stored_mask with the encoder output of tokens [R,S] (mask [R,S]) at `slots` [R];
    the null slot keeps an all-False mask."""
    out = model.apply({"params": params}, tokens, mask, method=model.encode)  # [R,S,D]
    encoded = encoded.at[slots].set(out.astype(encoded.dtype))
    stored_mask = stored_mask.at[slots].set(mask).at[NULL_SLOT].set(False)
    return encoded, stored_mask
