"""Intrinsic evaluation of word vectors: planted clusters, analogies, similarity rankings.

- `cluster_accuracy`: the fraction of labelled words whose nearest other labelled word (cosine)
  has the same label. A labelled word without a vector counts as a miss.
- `analogy_accuracy`: a : b :: c : d is right when the top answer of b - a + c, leaving out a, b
  and c, is d: 3CosAdd ('add') or 3CosMul ('mul'), the rankings of `WordVectors.most_similar` and
  `most_similar_cosmul`, batched. Questions with a word that has no vector count as misses
  (gensim's `evaluate_word_analogies` drops them instead), so models with different
  vocabularies are scored on the same questions.
- `similarity_correlation`: Spearman's rho between given scores and cosines, over the pairs whose
  two words have vectors (the usual WordSim-style protocol); at least 3 such pairs are needed.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.stats

from research.embeddings.word_vectors import COSMUL_EPSILON, WordVectors

# Analogy questions scored per matrix product: bounds memory at CHUNK x V floats.
CHUNK = 512


def _has_vector(vectors: WordVectors, word: str) -> bool:
    return word in vectors or vectors.oov_vector is not None


def cluster_accuracy(vectors: WordVectors, cluster_of: Mapping[str, int]) -> float:
    """Fraction of the words of `cluster_of` whose nearest other word of it shares its cluster."""
    if len(cluster_of) < 2:
        raise ValueError(f"cluster_of has {len(cluster_of)} words; give at least two.")
    present = [w for w in cluster_of if _has_vector(vectors, w)]
    if len(present) < 2:
        return 0.0
    unit = np.stack([vectors.unit_vector(w) for w in present])
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    labels = np.array([cluster_of[w] for w in present])
    hits = int(np.sum(labels[np.argmax(sims, axis=1)] == labels))
    return hits / len(cluster_of)


def analogy_answers(
    vectors: WordVectors, analogies: Sequence[tuple[str, str, str, str]], method: str = "add"
) -> list[str | None]:
    """The top answer to each question a : b :: c : ? (None when a, b or c has no vector)."""
    if method not in ("add", "mul"):
        raise ValueError(f"method={method!r} is not an analogy method; use 'add' or 'mul'.")
    answers: list[str | None] = [None] * len(analogies)
    known = [i for i, q in enumerate(analogies) if all(_has_vector(vectors, w) for w in q[:3])]
    unit = vectors.unit_vectors
    for start in range(0, len(known), CHUNK):
        rows = known[start : start + CHUNK]
        a, b, c = (np.stack([vectors.unit_vector(analogies[i][n]) for i in rows]) for n in range(3))
        if method == "add":
            scores = (b - a + c) @ unit.T  # the normalisation of the query does not change ranks
        else:
            cos_a, cos_b, cos_c = ((1 + x @ unit.T) / 2 for x in (a, b, c))
            scores = cos_b * cos_c / (cos_a + COSMUL_EPSILON)
        for r, i in enumerate(rows):
            for w in analogies[i][:3]:
                j = vectors.index(w)
                if j is not None:
                    scores[r, j] = -np.inf
        best = np.argmax(scores, axis=1)
        for r, i in enumerate(rows):
            answers[i] = vectors.words[best[r]]
    return answers


def analogy_accuracy(
    vectors: WordVectors, analogies: Sequence[tuple[str, str, str, str]], method: str = "add"
) -> float:
    """Fraction of questions (a, b, c, d) whose top answer to b - a + c is d."""
    if not analogies:
        raise ValueError("analogies is empty; give at least one (a, b, c, d) question.")
    answers = analogy_answers(vectors, analogies, method)
    return sum(ans == q[3] for ans, q in zip(answers, analogies, strict=True)) / len(analogies)


def similarity_correlation(vectors: WordVectors, pairs: Sequence[tuple[str, str, float]]) -> float:
    """Spearman's rho between the scores of `pairs` and the cosines of their words."""
    kept = [(a, b, s) for a, b, s in pairs if _has_vector(vectors, a) and _has_vector(vectors, b)]
    if len(kept) < 3:
        raise ValueError(
            f"only {len(kept)} of the {len(pairs)} pairs have vectors for both words; a rank "
            "correlation needs at least 3 (use pairs from the vocabulary)."
        )
    cosines = [vectors.similarity(a, b) for a, b, _ in kept]
    return float(scipy.stats.spearmanr([s for _, _, s in kept], cosines).statistic)
