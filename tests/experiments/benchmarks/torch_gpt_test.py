"""The PyTorch GPT computes our transformer_lm's function and takes the same optimizer steps."""

import functools
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.models import transformer_lm
from research.train.losses import softmax_cross_entropy
from research.train.optimizer import decay_mask, make_optimizer
from research.train.state import TrainState
from research.train.step import make_train_step
from tests.reference_packages import import_reference

torch = import_reference("torch")
F = torch.nn.functional

from experiments.benchmarks import torch_gpt  # noqa: E402  (needs torch)

CONFIG = transformer_lm.Config(
    vocab_size=257, max_len=32, num_layers=2, embed_dim=64, num_heads=4, mlp_dim=256
)
OPTIMIZER = types.SimpleNamespace(
    learning_rate=1e-3,
    warmup_steps=0,
    decay="constant",
    end_learning_rate_ratio=1.0,
    b1=0.9,
    b2=0.95,
    eps=1e-8,
    weight_decay=0.1,
    grad_clip_norm=0.5,  # below the initial gradient norm, so clipping is exercised
)


@functools.cache
def _params():
    """Our initial params with every leaf perturbed: zero biases and unit scales would hide
    a bias or LayerNorm wired to the wrong place. Numpy leaves, shared between tests: read only."""

    @jax.jit
    def init(tokens):
        params = transformer_lm.Model(CONFIG).init(jax.random.key(0), tokens)["params"]
        leaves, treedef = jax.tree.flatten(nn.meta.unbox(params))
        keys = jax.random.split(jax.random.key(1), len(leaves))
        noisy = [
            p + 0.05 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys, strict=True)
        ]
        return jax.tree.unflatten(treedef, noisy)

    return jax.device_get(init(jnp.zeros((1, 8), jnp.int32)))


def _tokens(batch=3, length=32):
    return np.random.default_rng(0).integers(0, CONFIG.vocab_size, (batch, length + 1))


def test_logits_match_jax():
    params = _params()
    tokens = _tokens()[:, :-1]
    ours = jax.jit(transformer_lm.Model(CONFIG).apply)({"params": params}, jnp.asarray(tokens))
    model = torch_gpt.load_from_jax(torch_gpt.GPT(CONFIG), params)
    with torch.no_grad():
        theirs = model(torch.from_numpy(tokens).long()).numpy()
    assert theirs.shape == (3, 32, CONFIG.vocab_size)
    np.testing.assert_allclose(theirs, np.asarray(ours), atol=1e-4, rtol=0)


def test_adamw_steps_match_our_train_step():
    params = _params()
    tokens = _tokens()
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    model = transformer_lm.Model(CONFIG)

    def loss_fn(p, model_state, batch, rng, train):
        logits = model.apply({"params": p}, batch["inputs"], train=train)
        total, count = softmax_cross_entropy(logits, batch["targets"])
        return total / count, {"loss": (total, count)}, model_state

    tx = make_optimizer(OPTIMIZER, 10)
    step = jax.jit(make_train_step(loss_fn, tx, 0, False))
    state = TrainState.create(params, tx)
    batch = {"inputs": jnp.asarray(inputs), "targets": jnp.asarray(targets)}
    jax_losses, grad_norms = [], []
    for _ in range(3):  # the last step's loss is the loss after two updates
        state, metrics = step(state, batch)
        jax_losses.append(float(metrics["loss"][0] / metrics["loss"][1]))
        grad_norms.append(float(metrics["grad_norm"][0]))
    assert grad_norms[0] > OPTIMIZER.grad_clip_norm

    torch_model = torch_gpt.load_from_jax(torch_gpt.GPT(CONFIG), params)
    opt = torch.optim.AdamW(
        torch_gpt.decay_groups(torch_model, OPTIMIZER.weight_decay),
        lr=OPTIMIZER.learning_rate,
        betas=(OPTIMIZER.b1, OPTIMIZER.b2),
        eps=OPTIMIZER.eps,
    )
    x, y = torch.from_numpy(inputs).long(), torch.from_numpy(targets).long()
    torch_losses = []
    for _ in range(3):
        loss = F.cross_entropy(torch_model(x).flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(torch_model.parameters(), OPTIMIZER.grad_clip_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch_losses.append(loss.item())

    assert jax_losses[2] < jax_losses[0]  # the steps did something
    np.testing.assert_allclose(torch_losses, jax_losses, rtol=1e-4)
    after = torch_gpt.load_from_jax(torch_gpt.GPT(CONFIG), jax.device_get(state.params))
    d = CONFIG.embed_dim
    for (name, ours), theirs in zip(
        after.named_parameters(), torch_model.parameters(), strict=True
    ):
        ours, theirs = ours.detach().numpy(), theirs.detach().numpy()
        if name.endswith("c_attn.bias"):
            # The key bias shifts every score of a query equally, so softmax makes its true
            # gradient zero; Adam then scales float noise up to +-lr, differently on each side.
            ours, theirs = np.delete(ours, np.s_[d : 2 * d]), np.delete(theirs, np.s_[d : 2 * d])
        np.testing.assert_allclose(theirs, ours, atol=2e-5, err_msg=name)


def test_decay_groups_mirror_our_decay_mask():
    params = _params()
    leaves, mask = jax.tree.leaves(params), jax.tree.leaves(decay_mask(params))
    decayed = sum(p.size for p, decay in zip(leaves, mask, strict=True) if decay)
    groups = torch_gpt.decay_groups(torch_gpt.GPT(CONFIG), 0.1)
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert sum(p.numel() for p in groups[0]["params"]) == decayed
    total = sum(p.numel() for g in groups for p in g["params"])
    assert total == transformer_lm.num_params(CONFIG)


def test_load_refuses_mismatched_shapes():
    other = transformer_lm.Config(
        vocab_size=400, max_len=32, num_layers=2, embed_dim=64, num_heads=4, mlp_dim=256
    )
    with pytest.raises(ValueError, match="embed/embedding"):
        torch_gpt.load_from_jax(torch_gpt.GPT(other), _params())
