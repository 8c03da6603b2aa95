"""TF-IDF as pure JAX functions over sparse (doc, term, count) pairs: counts -> df -> idf -> weights.

A document-term matrix is kept as its nonzeros: rows [P], cols [P], counts [P] (any order; padding
entries carry row = num_docs and count 0 and are dropped by every `segment_sum`). Then

  df[t]     = #{documents containing t}                             document_frequency
  idf[t]    = ln((n + s) / (df[t] + s)) + 1     (form 'sklearn')     inverse_document_frequency
            = ln((n + s) / (df[t] + s))         (form 'textbook')
  w[d, t]   = tf(count) * idf[t],  tf = count, or 1 + ln(count) when sublinear
  x[d, :]   = w[d, :] / ||w[d, :]||  (L2 or L1; a zero row stays zero)   tfidf_values

with s = 1 when `smooth_idf` (as if one extra document contained every term once: no division by
zero for a term absent from the corpus, e.g. from a fixed vocabulary) and s = 0 otherwise.
scikit-learn's default is the smoothed 'sklearn' form. Its `+ 1` keeps a term that occurs in EVERY
document at weight 1 instead of 0, so such a document is not an all-zero vector; the textbook form
ln(n / df) drops it (a term in every document then gets weight exactly 0).

All three run on CPU, GPU or TPU under `jax.jit`. Documents shard over a mesh by sharding the pair
arrays (sorted by document, so each device holds a contiguous block of documents): the two
`segment_sum`s become per-device partial sums plus one all-reduce, inserted by the compiler
(`sharded_tfidf_values`). Float64 results (scikit-learn's default dtype) are computed with x64
enabled for the call only (`jax.enable_x64`), so the rest of the program keeps JAX's float32 default.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

IDF_FORMS = ("sklearn", "textbook")
NORMS = (None, "l1", "l2")


def document_frequency(cols: jax.Array, counts: jax.Array, num_terms: int) -> jax.Array:
    """Number of documents that contain each term. Shapes: cols, counts [P] -> df int32 [V]."""
    return jax.ops.segment_sum((counts > 0).astype(jnp.int32), cols, num_segments=num_terms)


def inverse_document_frequency(
    df: jax.Array, num_docs, smooth_idf: bool = True, idf_form: str = "sklearn"
) -> jax.Array:
    """idf = ln((n + s) / (df + s)) (+ 1 for 'sklearn'), s = int(smooth_idf). Shape: [V] -> [V].

    Computed in the dtype of `df` when it is a float, else the default float dtype. Without
    smoothing, a term with df = 0 gets +inf, as in scikit-learn.
    """
    if idf_form not in IDF_FORMS:
        raise ValueError(f"idf_form={idf_form!r} is not one of {IDF_FORMS}; pick one of them.")
    dtype = df.dtype if jnp.issubdtype(df.dtype, jnp.floating) else jnp.result_type(float)
    s = float(smooth_idf)
    idf = jnp.log((jnp.asarray(num_docs, dtype) + s) / (df.astype(dtype) + s))
    return idf + 1.0 if idf_form == "sklearn" else idf


def tfidf_values(
    rows: jax.Array,
    cols: jax.Array,
    counts: jax.Array,
    idf: jax.Array | None,
    num_docs: int,
    sublinear_tf: bool = False,
    norm: str | None = "l2",
) -> jax.Array:
    """The value of each nonzero of the tf-idf matrix. Shapes: rows, cols, counts [P] -> [P].

    `idf=None` skips the idf factor (scikit-learn's use_idf=False). Values come in the dtype of
    `counts` when it is a float (pass the output dtype), entries with count 0 come out 0.
    """
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r} is not one of {NORMS}; use 'l2', 'l1' or None.")
    present = counts > 0
    tf = counts
    if sublinear_tf:
        tf = jnp.where(present, jnp.log(jnp.where(present, counts, 1)) + 1, 0)
    w = tf if idf is None else tf * idf.astype(tf.dtype)[cols]
    if norm is None:
        return w
    per_entry = jnp.abs(w) if norm == "l1" else w * w
    totals = jax.ops.segment_sum(per_entry, rows, num_segments=num_docs)
    totals = totals if norm == "l1" else jnp.sqrt(totals)
    totals = jnp.where(totals == 0, 1, totals)
    return jnp.where(present, w / totals[jnp.minimum(rows, num_docs - 1)], 0)


_jit_values = jax.jit(tfidf_values, static_argnames=("num_docs", "sublinear_tf", "norm"))
_jit_df = jax.jit(document_frequency, static_argnames=("num_terms",))
_jit_idf = jax.jit(inverse_document_frequency, static_argnames=("smooth_idf", "idf_form"))


def _bucket(n: int, multiple: int = 8) -> int:
    """Padded length: the next power of two (>= 1024), a multiple of `multiple` (fewer compiles)."""
    size = max(1024, 1 << max(n - 1, 0).bit_length())
    return -(-size // multiple) * multiple


def _pad(rows, cols, counts, num_docs: int, size: int, dtype):
    p = len(rows)
    out_rows = np.full(size, num_docs, np.int32)
    out_cols = np.zeros(size, np.int32)
    out_counts = np.zeros(size, dtype)
    out_rows[:p], out_cols[:p], out_counts[:p] = rows, cols, counts
    return out_rows, out_cols, out_counts


def _x64(dtype):
    """Context enabling 64-bit JAX types for this call when the output dtype is 64-bit."""
    enable_x64 = getattr(jax, "enable_x64", None)
    if enable_x64 is None:  # older JAX spelled it jax.experimental.enable_x64
        from jax.experimental import enable_x64
    return enable_x64(np.dtype(dtype).itemsize == 8)


def document_frequency_host(cols, counts, num_terms: int) -> np.ndarray:
    """`document_frequency` of numpy pairs (padded, jitted). Shape: [P] -> int64 [V]."""
    rows = np.zeros(len(cols), np.int32)
    _, cols, counts = _pad(rows, cols, counts, 0, _bucket(len(cols)), np.int32)
    df = _jit_df(cols, counts, num_terms=_bucket(num_terms, 1))
    return np.asarray(df)[:num_terms].astype(np.int64)


def inverse_document_frequency_host(
    df, num_docs: int, smooth_idf: bool, idf_form: str, dtype
) -> np.ndarray:
    """`inverse_document_frequency` of a numpy df [V] (padded, jitted), in `dtype`. Shape [V]."""
    padded = np.ones(_bucket(len(df), 1), dtype)
    padded[: len(df)] = df
    with _x64(dtype):
        idf = _jit_idf(jnp.asarray(padded), num_docs, smooth_idf=smooth_idf, idf_form=idf_form)
        return np.asarray(idf, dtype)[: len(df)]


def tfidf_values_host(
    rows, cols, counts, idf, num_docs: int, dtype, sublinear_tf=False, norm="l2", mesh=None
) -> np.ndarray:
    """`tfidf_values` of numpy pairs: padded to a bucket, jitted, float64 under x64. Shape [P].

    Pairs, idf and the number of documents are padded to powers of two, so corpora of similar
    size share one compilation. With a `mesh`, the pairs are sharded over all of its devices (see
    `sharded_tfidf_values`).
    """
    multiple = 8 if mesh is None else 8 * mesh.devices.size
    padded = _pad(rows, cols, counts, num_docs, _bucket(len(rows), multiple), dtype)
    segments = _bucket(num_docs + 1, 1)  # padding pairs (row = num_docs, count 0) add nothing
    with _x64(dtype):
        if idf is not None:
            idf_padded = np.zeros(_bucket(len(idf), 1), dtype)
            idf_padded[: len(idf)] = idf
            idf = jnp.asarray(idf_padded)
        if mesh is None:
            out = _jit_values(*padded, idf, segments, sublinear_tf, norm)
        else:
            out = sharded_tfidf_values(mesh, *padded, idf, segments, sublinear_tf, norm)
        return np.asarray(out)[: len(rows)]


def sharded_tfidf_values(
    mesh: Mesh, rows, cols, counts, idf, num_docs: int, sublinear_tf=False, norm="l2"
) -> jax.Array:
    """`tfidf_values` with the pairs sharded over every device of `mesh` (documents per device).

    P must be a multiple of the number of devices; idf is replicated. Shapes as `tfidf_values`.
    """
    if len(rows) % mesh.devices.size:
        raise ValueError(
            f"{len(rows)} pairs do not split evenly over {mesh.devices.size} devices; pad them "
            "with row = num_docs and count 0 to a multiple of the device count."
        )
    pairs = NamedSharding(mesh, PartitionSpec(mesh.axis_names))
    replicated = NamedSharding(mesh, PartitionSpec())
    fn = _sharded_fn(mesh, num_docs, sublinear_tf, norm, idf is None)
    args = [jax.device_put(jnp.asarray(a), pairs) for a in (rows, cols, counts)]
    if idf is not None:
        args.append(jax.device_put(idf, replicated))
    return fn(*args)


@functools.lru_cache(maxsize=16)
def _sharded_fn(mesh, num_docs, sublinear_tf, norm, no_idf):
    pairs = NamedSharding(mesh, PartitionSpec(mesh.axis_names))
    replicated = NamedSharding(mesh, PartitionSpec())

    def fn(rows, cols, counts, idf=None):
        return tfidf_values(rows, cols, counts, idf, num_docs, sublinear_tf, norm)

    in_shardings = (pairs,) * 3 + (() if no_idf else (replicated,))
    return jax.jit(fn, in_shardings=in_shardings, out_shardings=pairs)
