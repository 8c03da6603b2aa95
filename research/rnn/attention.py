"""Attention of a recurrent decoder over encoder outputs: additive (Bahdanau et al., 2015) and
multiplicative (Luong et al., 2015: 'dot' and 'general') scores, a masked softmax, the context.

For a decoder state (the query) q [B,Q] and encoder outputs (the memory) m [B,S,K]:

  additive  score_s = v^T tanh(W_key m_s + W_query q)     params w_key [K,A], w_query [Q,A], v [A]
  dot       score_s = q^T m_s                             no params (needs Q == K)
  general   score_s = q^T W m_s                           params kernel [Q,K]

weights = softmax over the real source positions (padded ones get exactly 0; a row with no real
position is all zeros, the convention of `research.nn.reference_attention`), context = sum_s
weights_s m_s. The memory side of each score does not change from step to step, so `prepare`
computes it once per sequence (W_key m for 'additive', W m for 'general') and `scores` only adds
the query's part: a decoder loop pays O(S*A) per step, not O(S*K*A).

The math is pure functions of explicit parameter dicts, so a decoder can call them inside
`jax.lax.scan` or `vmap`; `Attention` is a thin Linen holder that creates those parameters and
applies them. Queries may carry extra leading axes ([B,T,Q]: every decoder step at once).
"""

import flax.linen as nn
import jax.numpy as jnp

from research.nn import reference_attention

KINDS = ("additive", "dot", "general")


def additive_scores(query, memory, params):
    """Bahdanau scores v^T tanh(W_key m_s + W_query q). Shapes: query [B,Q] (or [B,T,Q]),
    memory [B,S,K] -> [B,S] (or [B,T,S])."""
    return scores("additive", params, query, prepare("additive", params, memory))


def dot_scores(query, memory):
    """Luong's dot scores q^T m_s. Shapes: query [B,Q] (or [B,T,Q]), memory [B,S,Q] -> [B,S]."""
    return scores("dot", {}, query, memory)


def general_scores(query, memory, params):
    """Luong's general scores q^T W m_s. Shapes: query [B,Q] (or [B,T,Q]), memory [B,S,K],
    kernel [Q,K] -> [B,S] (or [B,T,S])."""
    return scores("general", params, query, prepare("general", params, memory))


def prepare(kind: str, params, memory):
    """The memory side of the scores, computed once per sequence. Shapes: memory [B,S,K] ->
    keys [B,S,A] ('additive'), [B,S,Q] ('general'), the memory itself ('dot')."""
    _check_kind(kind)
    if kind == "additive":
        return jnp.einsum("BSK,KA->BSA", memory, params["w_key"].astype(memory.dtype))
    if kind == "general":
        return jnp.einsum("BSK,QK->BSQ", memory, params["kernel"].astype(memory.dtype))
    return memory


def scores(kind: str, params, query, keys):
    """Unnormalized scores of each query against prepared keys. Shapes: query [B,Q] or [B,T,Q],
    keys from `prepare` [B,S,*] -> [B,S] or [B,T,S]."""
    _check_kind(kind)
    if query.ndim not in (2, 3) or keys.ndim != 3:
        raise ValueError(
            f"attention expects query [B,Q] or [B,T,Q] and memory [B,S,K], got query "
            f"{query.shape} and keys {keys.shape}."
        )
    squeeze = query.ndim == 2
    q = query[:, None] if squeeze else query  # [B,T,Q]
    if kind == "additive":
        qw = jnp.einsum("BTQ,QA->BTA", q, params["w_query"].astype(q.dtype))
        hidden = jnp.tanh(keys[:, None, :, :] + qw[:, :, None, :])  # [B,T,S,A]
        out = jnp.einsum("BTSA,A->BTS", hidden, params["v"].astype(q.dtype))
    else:
        if q.shape[-1] != keys.shape[-1]:
            raise ValueError(
                f"{kind} attention needs query size == key size, got {q.shape[-1]} and "
                f"{keys.shape[-1]}; use 'general' or 'additive' attention, or match the sizes."
            )
        out = jnp.einsum("BTQ,BSQ->BTS", q, keys)
    return out[:, 0] if squeeze else out


def masked_softmax(scores_, mask):
    """Softmax over the last axis (float32) with masked-out positions at exactly 0. A row with no
    real position (a fully padded source) gets all zeros, so its context is 0 and no gradient
    flows through it: the project's one convention (`research.nn.reference_attention`, whose
    `masked_softmax` this is, with the source mask broadcast over the queries).
    Shapes: scores [B,(T,)S], mask bool [B,S] or None -> float32 like scores."""
    if mask is not None and scores_.ndim == 3:
        mask = mask[:, None, :]
    return reference_attention.masked_softmax(scores_, mask)


def attend(kind: str, params, query, keys, memory, mask=None):
    """Context vectors and attention weights. Shapes: query [B,Q] or [B,T,Q], keys from `prepare`,
    memory [B,S,K], mask bool [B,S] (True = real position) or None -> (context [B,(T,)K],
    weights float32 [B,(T,)S])."""
    weights = masked_softmax(scores(kind, params, query, keys), mask)
    equation = "BS,BSK->BK" if weights.ndim == 2 else "BTS,BSK->BTK"
    return jnp.einsum(equation, weights.astype(memory.dtype), memory), weights


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"Unknown attention {kind!r}; choose one of {', '.join(KINDS)}.")


class Attention(nn.Module):
    """Holds one attention's parameters and applies `prepare` + `attend`.

    Shapes: query [B,Q] or [B,T,Q], memory [B,S,K], mask bool [B,S] or None -> (context
    [B,(T,)K], weights [B,(T,)S]). Params: 'additive' w_key [K,A], w_query [Q,A], v [A];
    'general' kernel [Q,K]; 'dot' none. A decoder loop that wants the memory side computed once
    calls the pure functions with these parameters instead.
    """

    kind: str
    attention_dim: int = 0  # A, 'additive' only
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, query, memory, mask=None):
        _check_kind(self.kind)
        query_size, key_size = query.shape[-1], memory.shape[-1]
        shapes = {}
        if self.kind == "general":
            shapes = {"kernel": ((query_size, key_size), ("hidden", "embed"))}
        elif self.kind == "additive":
            if self.attention_dim < 1:
                raise ValueError(
                    f"additive attention needs attention_dim >= 1, got {self.attention_dim}."
                )
            a = self.attention_dim
            shapes = {
                "w_key": ((key_size, a), ("embed", "hidden")),
                "w_query": ((query_size, a), ("embed", "hidden")),
                "v": ((a,), ("hidden",)),
            }
        init = nn.initializers.lecun_normal()
        inits = {"v": nn.initializers.normal(1.0 / max(self.attention_dim, 1) ** 0.5)}
        params = {
            name: self.param(
                name, nn.with_logical_partitioning(inits.get(name, init), axes), shape,
                self.param_dtype,
            )
            for name, (shape, axes) in shapes.items()
        }  # fmt: skip
        return attend(self.kind, params, query, prepare(self.kind, params, memory), memory, mask)
