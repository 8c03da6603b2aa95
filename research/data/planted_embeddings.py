"""A synthetic corpus with planted word clusters and planted analogies, for embedding tests.

Planted words are (cluster, role) pairs written `c{k}_r{j}`: `num_clusters` clusters of
`words_per_cluster` words, word j of every cluster having role j. Each sentence draws one cluster k
and one role j and fills its positions independently with
- the planted word `c{k}_r{j}` (probability `PLANTED`),
- a planted word of the same cluster, `c{k}_r{i}` with i uniform (probability `MATE`),
- a topic word of cluster k, `t{k}_{m}` (probability `TOPIC`, uniform over `TOPIC_WORDS` per cluster),
- a role word of role j, `g{j}_{m}` (probability `ROLE`, uniform over `ROLE_WORDS` per role),
- a function word `f{m}` shared by all sentences (the rest, Zipf-distributed: gives frequent words
  for subsampling to act on).
- with probability `noise` (default 0.05), whatever the draw above gave is replaced by a word drawn
  uniformly from the whole table.
So a planted word's context distribution is a fixed mixture of a cluster part (its cluster's topic
words and planted words) and a role part (its role's role words): its PMI row is the sum of the two,
which distributional methods turn into vec(c_k_r_j) ~ a_k + b_j. Hence
- clusters: the planted words of a cluster also are each other's contexts, which the words of a
  role are not, so a planted word's nearest planted neighbour is one of its own cluster (without
  the MATE draws, skip-gram puts the words of a role about as close as those of a cluster);
- analogies: vec(c_k_r_j') - vec(c_k_r_j) + vec(c_l_r_j) ~ vec(c_l_r_j'), for every two clusters
  k != l and two roles j != j' (num_clusters * (num_clusters - 1) * W * (W - 1) questions, of which
  `max_analogies` are kept, drawn with the seed).
The noise makes every pair of words co-occur a little. Count-based methods need it: GloVe fits only
the nonzero co-occurrence counts, and without noise a planted word's cluster shows only as zeros
(other clusters' topic words never meet it) while its role shows as counts, so GloVe trained to
convergence groups the planted words by role instead of by cluster (measured: cluster accuracy 0.00
without noise, 1.00 with 5%).
"""

import dataclasses

import numpy as np

TOPIC_WORDS = 6
ROLE_WORDS = 4
FUNCTION_WORDS = 10
PLANTED, MATE, TOPIC, ROLE = 0.15, 0.15, 0.35, 0.15  # function words: the remaining 0.2


@dataclasses.dataclass(frozen=True)
class PlantedCorpus:
    """sentences: lists of words; cluster_of: planted word -> cluster; analogies: (a, b, c, d) with
    d the answer to b - a + c."""

    sentences: list[list[str]]
    cluster_of: dict[str, int]
    analogies: list[tuple[str, str, str, str]]


def planted_word(cluster: int, role: int) -> str:
    return f"c{cluster}_r{role}"


def planted_corpus(
    num_clusters: int = 8,
    words_per_cluster: int = 12,
    num_sentences: int = 20_000,
    sentence_length: int = 12,
    seed: int = 0,
    max_analogies: int = 1000,
    noise: float = 0.05,
) -> PlantedCorpus:
    """The corpus described in the module docstring; deterministic given `seed`."""
    for name, value, least in (
        ("num_clusters", num_clusters, 2),
        ("words_per_cluster", words_per_cluster, 2),
        ("num_sentences", num_sentences, 1),
        ("sentence_length", sentence_length, 2),
        ("max_analogies", max_analogies, 1),
    ):
        if value < least:
            raise ValueError(f"{name}={value} must be at least {least}.")
    if not 0.0 <= noise < 1.0:
        raise ValueError(f"noise={noise} must be in [0, 1): the share of uniformly random words.")
    rng = np.random.default_rng(seed)
    # One word table: planted words, then topic words, role words and function words.
    planted = [planted_word(k, j) for k in range(num_clusters) for j in range(words_per_cluster)]
    topic = [f"t{k}_{m}" for k in range(num_clusters) for m in range(TOPIC_WORDS)]
    role = [f"g{j}_{m}" for j in range(words_per_cluster) for m in range(ROLE_WORDS)]
    function = [f"f{m}" for m in range(FUNCTION_WORDS)]
    table = np.array(planted + topic + role + function)
    topic_base, role_base = len(planted), len(planted) + len(topic)
    function_base = role_base + len(role)

    shape = (num_sentences, sentence_length)
    k = rng.integers(num_clusters, size=(num_sentences, 1))
    j = rng.integers(words_per_cluster, size=(num_sentences, 1))
    kind = rng.random(shape)
    zipf = 1.0 / np.arange(1, FUNCTION_WORDS + 1)
    bounds = np.cumsum([PLANTED, MATE, TOPIC, ROLE])
    ids = np.select(
        [kind < b for b in bounds],
        [
            k * words_per_cluster + j,
            k * words_per_cluster + rng.integers(words_per_cluster, size=shape),
            topic_base + k * TOPIC_WORDS + rng.integers(TOPIC_WORDS, size=shape),
            role_base + j * ROLE_WORDS + rng.integers(ROLE_WORDS, size=shape),
        ],
        function_base + rng.choice(FUNCTION_WORDS, size=shape, p=zipf / zipf.sum()),
    )
    # Drawn last, so noise=0 gives the sentences of the corpus without noise word for word.
    noisy = rng.random(shape) < noise
    ids = np.where(noisy, rng.integers(len(table), size=shape), ids)
    sentences = table[ids].tolist()

    cluster_of = {
        planted_word(c, r): c for c in range(num_clusters) for r in range(words_per_cluster)
    }
    questions = [
        (planted_word(c, r), planted_word(c, r2), planted_word(c2, r), planted_word(c2, r2))
        for c in range(num_clusters)
        for c2 in range(num_clusters)
        for r in range(words_per_cluster)
        for r2 in range(words_per_cluster)
        if c != c2 and r != r2
    ]
    if len(questions) > max_analogies:
        keep = np.sort(rng.choice(len(questions), size=max_analogies, replace=False))
        questions = [questions[i] for i in keep]
    return PlantedCorpus(sentences=sentences, cluster_of=cluster_of, analogies=questions)
