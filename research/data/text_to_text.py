"""Text-to-text classification (T5's framing, Raffel et al. 2020, section 2.4): every task is
"text in, text out". The input carries a task prefix ("classify: <text>"), the label is the
class *name* the decoder generates ("json"), and accuracy is the exact match of the generated
text with the label: a generated string that is no class name counts as wrong.

`ByteVocabulary` encodes text as UTF-8 bytes placed after the project's special ids
(`research/text/special_tokens.py`: pad 0, bos 1, eos 2, unk 3, mask 4, sentinels 5 .. 4+n), so
the span-corruption sentinels (`research.train.span_corruption.project_sentinels`) and the padding
id 0 (T5's decoder start token) mean the same in pre-training and fine-tuning, and no tokenizer
needs training.

Shapes: N examples, S input length, T target length.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np

from research.text import special_tokens


@dataclasses.dataclass(frozen=True)
class ByteVocabulary:
    """Byte b has id 5 + num_sentinels + b; ids below are the special tokens."""

    num_sentinels: int = special_tokens.DEFAULT_NUM_SENTINELS
    pad_id: int = special_tokens.PAD_ID
    eos_id: int = special_tokens.EOS_ID

    @property
    def offset(self) -> int:
        return special_tokens.NUM_FIXED + self.num_sentinels

    @property
    def vocab_size(self) -> int:
        return self.offset + 256

    def sentinel_ids(self) -> np.ndarray:
        return np.arange(self.num_sentinels, dtype=np.int32) + special_tokens.NUM_FIXED

    def encode(self, text: str) -> np.ndarray:
        """UTF-8 bytes of `text` as ids. Shape: int32 [len(bytes)]."""
        data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        return data.astype(np.int32) + self.offset

    def decode(self, ids) -> str:
        """Text of `ids` up to the first EOS; special ids are dropped, bad UTF-8 becomes U+FFFD."""
        ids = np.asarray(ids).reshape(-1)
        ends = np.flatnonzero(ids == self.eos_id)
        ids = ids[: ends[0]] if len(ends) else ids
        data = ids[(ids >= self.offset) & (ids < self.vocab_size)] - self.offset
        return data.astype(np.uint8).tobytes().decode("utf-8", errors="replace")


def with_prefix(prefix: str, text: str) -> str:
    """The task's input text: '<prefix>: <text>'."""
    return f"{prefix}: {text}"


def encode_pairs(
    vocab: ByteVocabulary, inputs, targets, *, max_input_len: int, max_target_len: int
) -> dict[str, np.ndarray]:
    """Input and target texts -> {'inputs': int32 [N,S], 'targets': int32 [N,T]}.

    Inputs are cut to S - 1 ids, then EOS, then padding; targets are the whole text then EOS
    (a label that does not fit is refused: a cut label could never be matched exactly).
    """
    if len(inputs) != len(targets):
        raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets; pass one per input.")
    out = {
        "inputs": np.full((len(inputs), max_input_len), vocab.pad_id, np.int32),
        "targets": np.full((len(inputs), max_target_len), vocab.pad_id, np.int32),
    }
    for i, (source, target) in enumerate(zip(inputs, targets, strict=True)):
        ids = np.append(vocab.encode(source)[: max_input_len - 1], vocab.eos_id)
        out["inputs"][i, : len(ids)] = ids
        ids = np.append(vocab.encode(target), vocab.eos_id)
        if len(ids) > max_target_len:
            raise ValueError(
                f"Target {target!r} takes {len(ids)} ids with EOS, more than max_target_len="
                f"{max_target_len}; raise max_target_len."
            )
        out["targets"][i, : len(ids)] = ids
    return out


def classification_arrays(
    vocab: ByteVocabulary,
    texts,
    labels,
    classes,
    *,
    prefix: str = "classify",
    max_input_len: int,
    max_target_len: int,
) -> dict[str, np.ndarray]:
    """The examples whose label is in `classes`, as text-to-text pairs (see `encode_pairs`), plus
    'label' int32 [N]: the index of each label in `classes` (for per-class reports)."""
    index = {name: i for i, name in enumerate(classes)}
    rows = [(t, lab) for t, lab in zip(texts, labels, strict=True) if lab in index]
    if not rows:
        raise ValueError(f"No example has a label in {list(classes)}; check the class names.")
    arrays = encode_pairs(
        vocab,
        [with_prefix(prefix, t) for t, _ in rows],
        [lab for _, lab in rows],
        max_input_len=max_input_len,
        max_target_len=max_target_len,
    )
    arrays["label"] = np.array([index[lab] for _, lab in rows], np.int32)
    return arrays


def exact_match(generated, targets, pad_id: int = special_tokens.PAD_ID):
    """bool [B]: the generated ids [B,T] equal the targets [B,T] at every non-padding target
    position (EOS included), i.e. the generated text is the label and ends where it ends."""
    return jnp.all((generated == targets) | (targets == pad_id), axis=1)


def predicted_classes(vocab: ByteVocabulary, generated, classes) -> np.ndarray:
    """int32 [B]: the index in `classes` of each generated text, -1 when it is no class name."""
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index.get(vocab.decode(row), -1) for row in np.asarray(generated)], np.int32)
