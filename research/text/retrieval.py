"""Top-k retrieval over a corpus: cosine similarity (TF-IDF or dense vectors) and BM25 Okapi.

  index = CosineIndex(vectors [D, V] scipy sparse or [D, E] dense, mesh=None)
  index = BM25Index(k1=1.5, b=0.75).fit(documents [D])
  scores [Q, k], ids [Q, k] = index.search(queries, k)     # best first; ties: lower id first

Both score a query against every document as one product with a document-term matrix W:
score(q, d) = sum_t q[t] * W[d, t]. Cosine: W and q are L2-normalized rows (a zero row scores 0).
BM25 (Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework"): q[t] = count of term t
in the query (a repeated query word counts each time) and

  W[d, t] = idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))
  idf(t)  = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))        (Lucene's variant: always > 0)

with tf the count of t in d, |d| the number of tokens of d that are in the vocabulary, avgdl the mean
|d| and N the number of documents. k1 saturates repeated terms, b scales by document length.

Sharding: the corpus rows split into S = mesh.devices.size equal blocks (padded); a leading block
axis sharded over every mesh axis puts a block per device. Each device scores its block and takes
its own top k; the S * k candidates are merged by one more top k (ids stay global). Sparse
matrices are kept as nonzeros per block: scoring gathers q[:, cols] and `segment_sum`s over rows,
so a device holds Q * P / S floats for P nonzeros.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from research.text.vectorizers import CountVectorizer


def _check_k(k: int, num_docs: int) -> None:
    if not 1 <= k <= num_docs:
        raise ValueError(f"k={k} must be between 1 and the {num_docs} documents in the index.")


def _merge_top_k(block_scores: jax.Array, block_ids: jax.Array, k: int):
    """[S, Q, k] per-block candidates -> [Q, k] best overall (stable: block order = id order)."""
    s, q, kk = block_scores.shape
    scores = jnp.moveaxis(block_scores, 0, 1).reshape(q, s * kk)
    ids = jnp.moveaxis(block_ids, 0, 1).reshape(q, s * kk)
    top, where = jax.lax.top_k(scores, k)
    return top, jnp.take_along_axis(ids, where, axis=1)


def sparse_block_scores(queries, rows, cols, values, block_docs: int) -> jax.Array:
    """Scores of one block. Shapes: queries [Q, V]; rows, cols, values [P] -> [Q, block_docs].

    Padding nonzeros carry row = block_docs and are dropped.
    """
    contributions = queries[:, cols] * values  # [Q, P]
    return jax.ops.segment_sum(contributions.T, rows, num_segments=block_docs).T


def dense_block_scores(queries, vectors) -> jax.Array:
    """Scores of one block. Shapes: queries [Q, E], vectors [Db, E] -> [Q, Db]."""
    return jnp.einsum("QE,DE->QD", queries, vectors)


def _search(block_scores_fn, queries, blocks, num_valid, block_docs: int, k: int):
    """Top k over blocks: blocks are [S, ...] arrays; num_valid [S] real documents per block."""

    def one_block(block, valid, offset):
        scores = block_scores_fn(queries, *block)
        scores = jnp.where(jnp.arange(block_docs) < valid, scores, -jnp.inf)
        top, where = jax.lax.top_k(scores, min(k, block_docs))
        return top, where + offset

    offsets = jnp.arange(num_valid.shape[0]) * block_docs
    top, ids = jax.vmap(one_block)(blocks, num_valid, offsets)
    return _merge_top_k(top, ids, k)


class _BlockedMatrix:
    """A [D, V] matrix (sparse nonzeros or dense rows) split into S blocks of rows, one per device."""

    def __init__(self, matrix, mesh: Mesh | None):
        self.mesh = mesh
        self.num_blocks = 1 if mesh is None else mesh.devices.size
        self.num_docs = matrix.shape[0]
        self.block_docs = max(1, -(-self.num_docs // self.num_blocks))
        starts = np.arange(self.num_blocks) * self.block_docs
        self.num_valid = np.clip(self.num_docs - starts, 0, self.block_docs).astype(np.int32)
        self.sparse = sp.issparse(matrix)
        if self.sparse:
            self.blocks = self._sparse_blocks(sp.csr_matrix(matrix), starts)
            self.score_fn = functools.partial(_sparse_block, block_docs=self.block_docs)
        else:
            dense = np.zeros((self.num_blocks * self.block_docs, matrix.shape[1]), np.float32)
            dense[: self.num_docs] = matrix
            self.blocks = (dense.reshape(self.num_blocks, self.block_docs, -1),)
            self.score_fn = dense_block_scores
        self.num_features = matrix.shape[1]
        if mesh is not None:
            spec = NamedSharding(mesh, PartitionSpec(mesh.axis_names))
            self.blocks = tuple(jax.device_put(b, spec) for b in self.blocks)
            self.num_valid = jax.device_put(self.num_valid, spec)
        self._search = jax.jit(
            functools.partial(_search, self.score_fn, block_docs=self.block_docs),
            static_argnames=("k",),
        )

    def _sparse_blocks(self, csr, starts):
        per_block = [csr[s : s + self.block_docs] for s in starts]
        size = max(1, max(b.nnz for b in per_block))
        rows = np.full((self.num_blocks, size), self.block_docs, np.int32)
        cols = np.zeros((self.num_blocks, size), np.int32)
        values = np.zeros((self.num_blocks, size), np.float32)
        for i, block in enumerate(per_block):
            coo = block.tocoo()
            rows[i, : block.nnz], cols[i, : block.nnz], values[i, : block.nnz] = (
                coo.row, coo.col, coo.data)  # fmt: skip
        return rows, cols, values

    def top_k(self, queries: np.ndarray, k: int):
        """(scores [Q, k], ids [Q, k]) as numpy for dense queries [Q, V]."""
        _check_k(k, self.num_docs)
        queries = np.asarray(queries, np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.num_features:
            raise ValueError(
                f"queries have shape {queries.shape} but the index has {self.num_features} "
                "features; pass a [num_queries, num_features] batch made like the corpus vectors."
            )
        if self.mesh is not None:
            queries = jax.device_put(queries, NamedSharding(self.mesh, PartitionSpec()))
        scores, ids = self._search(queries, self.blocks, self.num_valid, k=k)
        return np.asarray(scores), np.asarray(ids)


def _sparse_block(queries, rows, cols, values, block_docs):
    return sparse_block_scores(queries, rows, cols, values, block_docs)


def _l2_rows(matrix):
    if sp.issparse(matrix):
        matrix = sp.csr_matrix(matrix, dtype=np.float64)
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1
        return sp.diags(1 / norms) @ matrix
    matrix = np.asarray(matrix, np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def _dense_queries(queries) -> np.ndarray:
    return queries.toarray() if sp.issparse(queries) else np.asarray(queries)


class CosineIndex:
    """Cosine top-k over corpus vectors: TF-IDF (scipy sparse [D, V]) or dense [D, E] rows."""

    def __init__(self, vectors, mesh: Mesh | None = None):
        vectors = vectors if sp.issparse(vectors) else np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[0] == 0:
            raise ValueError(
                f"vectors have shape {vectors.shape}; pass a non-empty [num_docs, dim] matrix."
            )
        self._matrix = _BlockedMatrix(_l2_rows(vectors), mesh)

    def search(self, queries, k: int):
        """(scores [Q, k], ids [Q, k]) of queries [Q, V or E] (sparse or dense), best first."""
        return self._matrix.top_k(_l2_rows(_dense_queries(queries)), k)


def bm25_weights(counts, k1: float = 1.5, b: float = 0.75):
    """BM25 document-term weights W [D, V] (CSR, float64) from a count matrix [D, V] (CSR)."""
    if k1 < 0 or not 0 <= b <= 1:
        raise ValueError(f"k1={k1} must be >= 0 and b={b} in [0, 1]; the usual values: 1.5, 0.75.")
    counts = sp.csr_matrix(counts, dtype=np.float64)
    num_docs = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log1p((num_docs - df + 0.5) / (df + 0.5))
    lengths = np.asarray(counts.sum(axis=1)).ravel()
    avgdl = max(lengths.mean(), 1e-12)
    tf = counts.data
    row_of = np.repeat(np.arange(num_docs), np.diff(counts.indptr))
    norm = k1 * (1 - b + b * lengths[row_of] / avgdl)
    weights = counts.copy()
    weights.data = idf[counts.indices] * tf * (k1 + 1) / (tf + norm)
    return weights


class BM25Index:
    """BM25 Okapi search over documents tokenized by a `CountVectorizer` (scikit-learn options)."""

    def __init__(self, k1: float = 1.5, b: float = 0.75, vectorizer=None, mesh: Mesh | None = None):
        self.k1, self.b, self.mesh = k1, b, mesh
        self.vectorizer = CountVectorizer() if vectorizer is None else vectorizer

    def fit(self, documents):
        """Index `documents` (an iterable of str). Returns self."""
        counts = self.vectorizer.fit_transform(documents)
        self._matrix = _BlockedMatrix(bm25_weights(counts, self.k1, self.b), self.mesh)
        return self

    def search(self, queries, k: int):
        """(scores [Q, k], ids [Q, k]) of queries (a list of str), best first."""
        if not hasattr(self, "_matrix"):
            raise ValueError("BM25Index has no documents; call fit(documents) before search.")
        if isinstance(queries, str):
            raise ValueError("queries must be a list of str, got one str; wrap it: [query].")
        return self._matrix.top_k(_dense_queries(self.vectorizer.transform(queries)), k)
