"""Skip-gram pairs and CBOW windows against double loops; the iterator resumes exactly."""

import numpy as np
import pytest

from research.embeddings import skipgram_data as sd
from research.embeddings.word2vec_sampling import keep_probabilities


def _random_stream(seed=0, n=60, vocab=9, window=3):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, n)
    sentence_of = np.sort(rng.integers(0, 6, n))
    windows = rng.integers(1, window + 1, n)
    return tokens, sentence_of, windows


def test_skipgram_pairs_equal_a_double_loop():
    """Catches pairs across sentence boundaries or the window taken from the context word."""
    tokens, sentence_of, windows = _random_stream()
    want = sorted(
        (int(tokens[i]), int(tokens[j]))
        for i in range(len(tokens))
        for j in range(len(tokens))
        if i != j and sentence_of[i] == sentence_of[j] and abs(i - j) <= windows[i]
    )
    centers, contexts = sd.skipgram_pairs(tokens, sentence_of, windows)
    assert centers.dtype == np.int32
    assert sorted(zip(centers.tolist(), contexts.tolist(), strict=True)) == want


def test_cbow_windows_equal_a_double_loop():
    tokens, sentence_of, windows = _random_stream(seed=1)
    contexts, mask, centers = sd.cbow_windows(tokens, sentence_of, windows, 3)
    want = []
    for i in range(len(tokens)):
        ctx = [
            int(tokens[j])
            for j in range(i - 3, i + 4)
            if j != i
            and 0 <= j < len(tokens)
            and sentence_of[j] == sentence_of[i]
            and abs(i - j) <= windows[i]
        ]
        if ctx:
            want.append((int(tokens[i]), ctx))
    got = [
        (int(c), [int(x) for x, m in zip(row, row_mask, strict=True) if m])
        for c, row, row_mask in zip(centers, contexts, mask, strict=True)
    ]
    assert contexts.shape[1] == 6 and got == want
    assert np.all(contexts[mask == 0] == 0)


def _sentences(seed=0, count=50):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 12, rng.integers(1, 15)) for _ in range(count)]


def _counts(sentences):
    return np.bincount(np.concatenate(sentences), minlength=12) + 1


def _iterator(mode="skipgram", **kw):
    sentences = _sentences()
    args = dict(mode=mode, window=3, sample=0.05, global_batch_size=32, seed=7) | kw
    return sd.TrainingExamples(sentences, _counts(sentences), **args)


@pytest.mark.parametrize("mode", sd.MODES)
def test_resume_from_state_continues_exactly(mode):
    """Catches an iterator whose epoch RNG is not restored (e.g. one stream of draws)."""
    it = _iterator(mode)
    per_epoch = it.num_examples(0)
    batches = [next(it) for _ in range(3 * per_epoch // 32)]  # crosses two epoch boundaries
    again = _iterator(mode)
    for _ in range(5):
        next(again)
    state = again.get_state()
    fresh = _iterator(mode)
    fresh.set_state(state)
    for want in batches[5:]:
        got = next(fresh)
        assert got.keys() == want.keys()
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])


def test_epochs_redraw_subsampling_and_cover_the_kept_pairs():
    it = _iterator()
    e0, e1 = it.examples(0), it.examples(1)
    assert len(e0["targets"]) != len(e1["targets"]) or np.any(e0["inputs"] != e1["inputs"])
    # With sample=0 and window 1 an epoch is every adjacent pair in a sentence, both ways.
    sentences = _sentences()
    it = sd.TrainingExamples(
        sentences,
        _counts(sentences),
        mode="skipgram",
        window=1,
        sample=0,
        global_batch_size=8,
        seed=0,
    )
    want = 2 * sum(len(s) - 1 for s in sentences)
    assert it.num_examples(0) == it.num_examples(3) == want


def test_subsampling_rate_in_an_epoch():
    sentences = [np.zeros(5000, np.int64), np.arange(1, 5001)]  # word 0 is half the corpus
    counts = np.bincount(np.concatenate(sentences))
    it = sd.TrainingExamples(
        sentences, counts, mode="cbow", window=1, sample=1e-3, global_batch_size=8, seed=0
    )
    keep = keep_probabilities(counts, 1e-3)[0]
    kept_zero = np.sum(it.examples(0)["targets"] == 0)
    assert kept_zero == pytest.approx(5000 * keep, abs=4 * np.sqrt(5000 * keep))


def test_processes_split_the_global_batch():
    whole = next(_iterator(global_batch_size=32))
    parts = [next(_iterator(process_index=p, process_count=4)) for p in range(4)]
    for key in whole:
        np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), whole[key])


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(window=0), "window=0 must be >= 1"),
        (dict(mode="glove"), "mode='glove' is not known"),
        (dict(global_batch_size=100_000), "fewer than global_batch_size=100000"),
    ],
)
def test_bad_input_is_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        _iterator(**kw)


def test_empty_corpus_is_refused():
    with pytest.raises(ValueError, match="hold no words; lower min_count"):
        sd.TrainingExamples(
            [np.zeros(0, np.int64)],
            np.ones(3, np.int64),
            mode="skipgram",
            window=2,
            sample=0,
            global_batch_size=1,
            seed=0,
        )


def test_skipgram_windows_hold_the_same_pairs_as_skipgram():
    """Grouping by center changes nothing but the batching: an epoch's (center, context) pairs
    are those of mode 'skipgram' (the same subsampling and window draws)."""
    pairs = _iterator("skipgram").examples(2)
    windows = _iterator("skipgram_windows").examples(2)
    mask = windows["mask"] > 0
    grouped = sorted(
        zip(
            np.repeat(windows["inputs"], mask.sum(1)).tolist(),
            windows["targets"][mask].tolist(),
            strict=True,
        )
    )
    assert grouped == sorted(zip(pairs["inputs"].tolist(), pairs["targets"].tolist(), strict=True))
    assert windows["targets"].shape[1] == 6 and np.all(windows["targets"][~mask] == 0)
