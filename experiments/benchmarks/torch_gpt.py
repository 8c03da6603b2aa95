"""The PyTorch peer of `research.models.transformer_lm`: the same GPT-2 model, nanoGPT style.

Token + position embedding -> pre-LayerNorm blocks (causal self-attention through
`F.scaled_dot_product_attention(is_causal=True)`, GELU-tanh MLP) -> final LayerNorm -> output layer
tied to the token embedding, whose rows are padded to `padded_vocab_size` as in our model (the
padding's logits are sliced off). Built from our `transformer_lm.Config`; `load_from_jax` copies our
parameter tree in, so the two implementations compute the same function (the parity test checks it)
and benchmarks compare them from identical weights.

As in nanoGPT, query/key/value are one fused `c_attn` Linear [D -> 3D]; torch's Linear stores
weights [out, in], so our kernels are transposed on the way in.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from research.models.transformer_lm import Config


class CausalSelfAttention(nn.Module):
    """Shapes: x [B,T,D] -> [B,T,D]."""

    def __init__(self, config: Config):
        super().__init__()
        d = config.embed_dim
        self.num_heads = config.num_heads
        self.c_attn = nn.Linear(d, 3 * d)  # q | k | v, each [N*H]
        self.c_proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        n = self.num_heads
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, n, d // n).transpose(1, 2) for z in (q, k, v))  # [B,N,T,H]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [B,N,T,H]
        return self.c_proj(y.transpose(1, 2).reshape(b, t, d))


class Mlp(nn.Module):
    """Shapes: x [B,T,D] -> [B,T,D] through [B,T,F]."""

    def __init__(self, config: Config):
        super().__init__()
        self.c_fc = nn.Linear(config.embed_dim, config.mlp_dim)
        self.c_proj = nn.Linear(config.mlp_dim, config.embed_dim)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    """One pre-LayerNorm block. Shapes: x [B,T,D] -> [B,T,D]."""

    def __init__(self, config: Config):
        super().__init__()
        eps = config.norm_epsilon
        self.ln_1 = nn.LayerNorm(config.embed_dim, eps=eps)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.embed_dim, eps=eps)
        self.mlp = Mlp(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """The language model. Shapes: tokens int64[B,T] -> logits [B,T,V] (float32 outside autocast).

    Dropout is not implemented: the benchmarks and the parity test run with dropout_rate 0.
    """

    def __init__(self, config: Config):
        super().__init__()
        if config.dropout_rate:
            raise ValueError(
                f"torch_gpt.GPT has no dropout, got dropout_rate={config.dropout_rate}; "
                "build the Config with dropout_rate=0."
            )
        self.config = config
        self.wte = nn.Embedding(config.padded_vocab_size, config.embed_dim)  # as ours: padded
        self.wpe = nn.Embedding(config.max_len, config.embed_dim)
        self.h = nn.ModuleList(Block(config) for _ in range(config.num_layers))
        self.ln_f = nn.LayerNorm(config.embed_dim, eps=config.norm_epsilon)
        self.apply(self._init_weights)
        # GPT-2's smaller residual projections, as in our model.
        for block in self.h:
            for proj in (block.attn.c_proj, block.mlp.c_proj):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * config.num_layers))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def forward(self, tokens):
        t = tokens.shape[1]
        if t > self.config.max_len:
            raise ValueError(f"sequence length {t} exceeds max_len={self.config.max_len}.")
        pos = torch.arange(t, device=tokens.device)
        x = self.wte(tokens) + self.wpe(pos)[None]  # [B,T,D]
        for block in self.h:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)  # tied output layer [B,T,padded V]
        return logits[..., : self.config.vocab_size]


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW parameter groups that decay exactly what our optimizer's `decay_mask` decays.

    That mask decays matrices and embeddings but no bias; every bias here is 1-D.
    """
    decayed, kept = [], []
    for p in model.parameters():
        (decayed if p.ndim >= 2 else kept).append(p)
    return [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": kept, "weight_decay": 0.0},
    ]


@torch.no_grad()
def load_from_jax(model: GPT, params) -> GPT:
    """Copies our `transformer_lm` parameter tree (unboxed; jax or numpy leaves) into `model`.

    Returns `model`. Raises ValueError when a shape does not match the model's config.
    """
    cfg = model.config
    d = cfg.embed_dim

    def get(tree, *path):
        for key in path:
            tree = tree[key]
        return torch.from_numpy(np.array(tree, dtype=np.float32))

    def put(dst: torch.Tensor, value: torch.Tensor, name: str):
        if tuple(dst.shape) != tuple(value.shape):
            raise ValueError(
                f"{name}: our parameter gives shape {tuple(value.shape)}, the torch model has "
                f"{tuple(dst.shape)}; build both from the same Config."
            )
        dst.copy_(value)

    def put_layer_norm(ln: nn.LayerNorm, tree, name):
        put(ln.weight, get(tree, "scale"), f"{name}/scale")
        put(ln.bias, get(tree, "bias"), f"{name}/bias")

    def put_dense(linear: nn.Linear, tree, name):
        put(linear.weight, get(tree, "kernel").T, f"{name}/kernel")  # [in,out] -> [out,in]
        put(linear.bias, get(tree, "bias"), f"{name}/bias")

    put(model.wte.weight, get(params, "embed", "embedding"), "embed/embedding")
    put(model.wpe.weight, get(params, "pos_embed", "embedding"), "pos_embed/embedding")
    put_layer_norm(model.ln_f, params["ln_f"], "ln_f")
    for i, block in enumerate(model.h):
        p = params[f"block_{i}"]
        put_layer_norm(block.ln_1, p["ln1"], f"block_{i}/ln1")
        put_layer_norm(block.ln_2, p["ln2"], f"block_{i}/ln2")
        attn = p["attn"]
        qkv = ("query", "key", "value")
        kernel = torch.cat([get(attn, name, "kernel").reshape(d, d) for name in qkv], dim=1)
        bias = torch.cat([get(attn, name, "bias").reshape(d) for name in qkv])
        put(block.attn.c_attn.weight, kernel.T, f"block_{i}/attn/qkv/kernel")  # [3D, D]
        put(block.attn.c_attn.bias, bias, f"block_{i}/attn/qkv/bias")
        out_kernel = get(attn, "out", "kernel").reshape(d, d)  # [N,H,D] -> [N*H, D]
        put(block.attn.c_proj.weight, out_kernel.T, f"block_{i}/attn/out/kernel")
        put(block.attn.c_proj.bias, get(attn, "out", "bias"), f"block_{i}/attn/out/bias")
        put_dense(block.mlp.c_fc, p["mlp"]["wi"], f"block_{i}/mlp/wi")
        put_dense(block.mlp.c_proj, p["mlp"]["wo"], f"block_{i}/mlp/wo")
    return model
