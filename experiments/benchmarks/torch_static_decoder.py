"""A gpt-fast-style PyTorch GPT-2 decoder: the peer of the serving engine's decode benchmark.

As in gpt-fast (pytorch-labs/gpt-fast, `model.py` / `generate.py`): every layer owns a STATIC key /
value cache preallocated at [B, N, L, H] for L = prompt + new tokens, written in place with
`index_copy_` at the step's positions; attention reads the whole cache under a mask of the
positions written so far (`F.scaled_dot_product_attention(attn_mask=...)`), so every decode step
has the same shapes (what lets `torch.compile` specialize once). Greedy decoding under
`torch.inference_mode`, float32, batch rows of one prompt length.

Weights come from our `transformer_lm` parameters through the Hugging Face converter
(`research.models.convert.hf_gpt2.to_state_dict`: GPT-2's Conv1D layout, [in, out] kernels), so
the peer and the engine compute the same function from the same numbers.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from research.models.convert import hf_gpt2
from research.models.transformer_lm import Config


class KVCache(nn.Module):
    """Keys and values of one layer: buffers [B,N,L,H], position p of row b at [b, :, p]."""

    def __init__(self, batch: int, num_heads: int, length: int, head_dim: int):
        super().__init__()
        shape = (batch, num_heads, length, head_dim)
        self.register_buffer("k", torch.zeros(shape), persistent=False)
        self.register_buffer("v", torch.zeros(shape), persistent=False)

    def update(self, pos, k, v):
        """Writes k, v [B,N,T,H] at positions pos int64 [T] -> the whole cache (k, v [B,N,L,H])."""
        self.k.index_copy_(2, pos, k)
        self.v.index_copy_(2, pos, v)
        return self.k, self.v


class Block(nn.Module):
    """One pre-LayerNorm GPT-2 block. Shapes: x [B,T,D], pos int64 [T], mask bool [T,L] -> [B,T,D]."""

    def __init__(self, config: Config):
        super().__init__()
        d, self.n = config.embed_dim, config.num_heads
        self.ln_1 = nn.LayerNorm(d, eps=config.norm_epsilon)
        self.c_attn = nn.Linear(d, 3 * d)  # q | k | v, heads-major [N*H] each
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=config.norm_epsilon)
        self.c_fc = nn.Linear(d, config.mlp_dim)
        self.mlp_proj = nn.Linear(config.mlp_dim, d)
        self.cache: KVCache | None = None

    def forward(self, x, pos, mask):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n, d // self.n).transpose(1, 2) for z in (q, k, v))
        k, v = self.cache.update(pos, k, v)  # [B,N,L,H]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # [B,N,T,H]
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Decoder(nn.Module):
    """GPT-2 with static caches. Shapes: tokens int64 [B,T], pos int64 [T] -> logits [B,T,V]."""

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.embed_dim)
        self.wpe = nn.Embedding(config.max_len, config.embed_dim)
        self.h = nn.ModuleList(Block(config) for _ in range(config.num_layers))
        self.ln_f = nn.LayerNorm(config.embed_dim, eps=config.norm_epsilon)
        self.register_buffer("causal", torch.ones(0, 0, dtype=torch.bool), persistent=False)

    def setup_caches(self, batch: int, length: int) -> None:
        """Fresh zeroed caches for `batch` rows of up to `length` positions."""
        if length > self.config.max_len:
            raise ValueError(f"length {length} exceeds the model's max_len={self.config.max_len}.")
        c = self.config
        for block in self.h:
            block.cache = KVCache(batch, c.num_heads, length, c.embed_dim // c.num_heads)
        self.causal = torch.tril(torch.ones(length, length, dtype=torch.bool))

    def forward(self, tokens, pos):
        x = self.wte(tokens) + self.wpe(pos)[None]
        mask = self.causal[pos]  # [T,L]: query at position p sees positions <= p
        for block in self.h:
            x = block(x, pos, mask)
        return F.linear(self.ln_f(x), self.wte.weight)  # tied output layer


@torch.no_grad()
def from_params(params, config: Config) -> Decoder:
    """A `Decoder` holding our `transformer_lm` params (float32), via the HF GPT-2 state dict."""
    if config.position_embedding != "learned" or config.norm_placement != "pre":
        raise ValueError("The static decoder is GPT-2: learned positions, pre-LayerNorm blocks.")
    sd = {
        k.removeprefix("transformer."): v for k, v in hf_gpt2.to_state_dict(params, config).items()
    }
    model = Decoder(config)
    renames = {"attn.c_attn": "c_attn", "attn.c_proj": "c_proj", "mlp.c_fc": "c_fc"}
    renames["mlp.c_proj"] = "mlp_proj"
    ours = {}
    for name, value in sd.items():
        for old, new in renames.items():
            name = name.replace(f".{old}.", f".{new}.")
        # Conv1D stores [in, out]; Linear wants [out, in].
        is_conv = name.endswith(".weight") and name.startswith("h.") and value.ndim == 2
        ours[name] = torch.from_numpy(np.array(value.T if is_conv else value, np.float32))
    model.load_state_dict(ours, strict=True)
    return model.eval()


def decode_one(model: Decoder, token, pos):
    """One greedy step. token int64 [B,1], pos int64 [1] -> (next token int64 [B,1], its
    logits [B,V])."""
    logits = model(token, pos)[:, -1]
    return logits.argmax(-1, keepdim=True), logits


@torch.inference_mode()
def generate(model: Decoder, prompts, num_tokens: int, *, step=decode_one, return_logits=False):
    """Greedy continuation. prompts int64 [B,P] -> int64 [B, num_tokens] (the new tokens), and
    with `return_logits` the logits each was chosen from, float32 [B, num_tokens, V].

    `step` is `decode_one` or a `torch.compile`d copy of it; the prefill always runs eager.
    """
    b, p = prompts.shape
    model.setup_caches(b, p + num_tokens)
    logits = model(prompts, torch.arange(p))[:, -1]  # [B,V]
    token = logits.argmax(-1, keepdim=True)  # [B,1]
    tokens, all_logits = [token], [logits]
    for i in range(num_tokens - 1):
        token, logits = step(model, token, torch.tensor([p + i]))
        tokens.append(token.clone())
        if return_logits:
            all_logits.append(logits.clone())
    tokens = torch.cat(tokens, dim=1)
    return (tokens, torch.stack(all_logits, dim=1)) if return_logits else tokens
