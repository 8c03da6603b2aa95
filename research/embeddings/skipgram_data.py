"""word2vec training examples from encoded sentences, as a checkpointable, endless iterator.

Each epoch e draws, from `numpy.random.default_rng([seed, e])` in this order: the subsampling of
every token (`word2vec_sampling.keep_probabilities`; dropped words are removed before windows are
cut, as word2vec.c and gensim do), each kept center word's reduced window (uniform on 1..window),
and a shuffle of the epoch's examples. Windows never cross sentence boundaries.

  'skipgram': one example per (center, context) pair within the center's reduced window:
              {'inputs': int32 [b] center ids, 'targets': int32 [b] context ids}
  'cbow':     one example per center word with at least one context word:
              {'inputs': int32 [b, 2 * window] context ids (0 where padded),
               'mask': float32 [b, 2 * window] 1 on real context words, 'targets': int32 [b] centers}
  'skipgram_windows': the skip-gram pairs grouped by center (the same windows as 'cbow'):
              {'inputs': int32 [b] centers, 'targets': int32 [b, 2 * window] contexts, 'mask'}
              so a model whose input is costly (FastText's n-gram average) computes it once per
              center instead of once per pair.

Global batches are consecutive slices of the epoch's shuffled examples; a batch that runs past the
end of an epoch continues with the next one. The iterator's state is {'epoch': e, 'position': p}
(JSON): the epoch's RNG is a pure function of (seed, e), so `set_state` on a freshly built iterator
redraws that epoch's subsampling and windows and continues exactly. Process p of n takes rows
[p * b, (p + 1) * b) of each global batch, b = global_batch_size // n.
"""

from collections.abc import Sequence

import numpy as np

from research.data import array_pipeline
from research.embeddings import word2vec_sampling

MODES = ("skipgram", "cbow", "skipgram_windows")


def skipgram_pairs(tokens, sentence_of, windows) -> tuple[np.ndarray, np.ndarray]:
    """(centers, contexts) int32 [P]: every pair within a center's window, in one sentence.

    tokens int [n], sentence_of int [n] (sentence index of each token), windows int [n] (each
    center's reduced window). Pairs are ordered by distance, then position.
    """
    centers, contexts = [], []
    n = len(tokens)
    for d in range(1, int(windows.max(initial=0)) + 1):
        if d >= n:
            break
        same = sentence_of[:-d] == sentence_of[d:]
        left = np.flatnonzero(same & (windows[:-d] >= d))  # center i, context i + d
        right = np.flatnonzero(same & (windows[d:] >= d))  # center i + d, context i
        centers += [tokens[left], tokens[right + d]]
        contexts += [tokens[left + d], tokens[right]]
    if not centers:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    return np.concatenate(centers).astype(np.int32), np.concatenate(contexts).astype(np.int32)


def cbow_windows(tokens, sentence_of, windows, window: int):
    """(contexts int32 [M, 2W], mask float32 [M, 2W], centers int32 [M]) for centers with context.

    Context slot k < W holds position i - W + k, slot k >= W position i + k - W + 1.
    """
    n = len(tokens)
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    positions = np.arange(n)[:, None] + offsets[None, :]  # [n, 2W]
    inside = (positions >= 0) & (positions < n)
    clipped = np.clip(positions, 0, max(n - 1, 0))
    mask = (
        inside
        & (sentence_of[clipped] == sentence_of[:, None])
        & (np.abs(offsets)[None, :] <= windows[:, None])
    )
    has_context = mask.any(axis=1)
    contexts = np.where(mask, tokens[clipped], 0)[has_context]
    return (
        contexts.astype(np.int32),
        mask[has_context].astype(np.float32),
        tokens[has_context].astype(np.int32),
    )


class TrainingExamples:
    """Endless global batches of skip-gram or CBOW examples (see the module docstring).

    sentences: encoded sentences, int [n_i] each (`Vocabulary.encode`); counts int [V] the
    vocabulary's counts (for subsampling); mode 'skipgram' | 'cbow'.
    """

    def __init__(
        self,
        sentences: Sequence[np.ndarray],
        counts: np.ndarray,
        *,
        mode: str,
        window: int,
        sample: float,
        global_batch_size: int,
        seed: int,
        process_index: int = 0,
        process_count: int = 1,
    ):
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not known; use one of {', '.join(MODES)}.")
        if window < 1:
            raise ValueError(f"window={window} must be >= 1; pass e.g. window=5.")
        self.local_batch_size = array_pipeline.local_batch_size(
            global_batch_size, process_index, process_count
        )
        array_pipeline.check_seed(seed)
        self.keep = word2vec_sampling.keep_probabilities(counts, sample)
        lengths = [len(s) for s in sentences]
        if sum(lengths) == 0:
            raise ValueError(
                "the encoded sentences hold no words; lower min_count or supply a larger corpus."
            )
        self.tokens = np.concatenate([np.asarray(s, np.int64) for s in sentences if len(s)])
        if self.tokens.min() < 0 or self.tokens.max() >= len(self.keep):
            raise ValueError(
                f"sentence ids must lie in [0, {len(self.keep)}), got ids in "
                f"[{self.tokens.min()}, {self.tokens.max()}]; encode with the same Vocabulary."
            )
        self.sentence_of = np.repeat(np.arange(len(lengths)), lengths)
        self.mode, self.window, self.seed = mode, window, seed
        self.global_batch_size = global_batch_size
        self.process_index = process_index
        self.epoch, self.position = 0, 0
        self._cached = None
        if self.num_examples(0) < global_batch_size:
            raise ValueError(
                f"epoch 0 yields {self.num_examples(0)} {mode} examples, fewer than "
                f"global_batch_size={global_batch_size}; lower the batch size or supply more text."
            )

    def examples(self, epoch: int) -> dict[str, np.ndarray]:
        """The shuffled examples of `epoch` (global, every process's rows), cached for one epoch."""
        if self._cached is not None and self._cached[0] == epoch:
            return self._cached[1]
        rng = np.random.default_rng([self.seed, epoch])
        kept = rng.random(len(self.tokens)) < self.keep[self.tokens]
        tokens, sentence_of = self.tokens[kept], self.sentence_of[kept]
        windows = word2vec_sampling.reduced_windows(rng, len(tokens), self.window)
        if self.mode == "skipgram":
            centers, contexts = skipgram_pairs(tokens, sentence_of, windows)
            arrays = {"inputs": centers, "targets": contexts}
        else:
            contexts, mask, centers = cbow_windows(tokens, sentence_of, windows, self.window)
            if self.mode == "cbow":
                arrays = {"inputs": contexts, "mask": mask, "targets": centers}
            else:
                arrays = {"inputs": centers, "targets": contexts, "mask": mask}
        order = rng.permutation(len(arrays["targets"]))
        arrays = {key: value[order] for key, value in arrays.items()}
        self._cached = (epoch, arrays)
        return arrays

    def num_examples(self, epoch: int) -> int:
        return len(self.examples(epoch)["targets"])

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        parts, needed = [], self.global_batch_size
        while needed:
            arrays = self.examples(self.epoch)
            total = len(arrays["targets"])
            if total == 0:
                raise ValueError(
                    f"epoch {self.epoch} yields no training examples after subsampling; raise "
                    "data.sample (or set it to 0) or supply a larger corpus."
                )
            take = min(needed, total - self.position)
            parts.append({k: v[self.position : self.position + take] for k, v in arrays.items()})
            self.position += take
            needed -= take
            if self.position == total:
                self.epoch, self.position = self.epoch + 1, 0
        b, p = self.local_batch_size, self.process_index
        return {
            key: np.concatenate([part[key] for part in parts])[p * b : (p + 1) * b]
            for key in parts[0]
        }

    def get_state(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def set_state(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
