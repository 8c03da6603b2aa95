"""The family benchmark's pairs hold the same model twice: ours and Hugging Face's give the same loss
and the same gradient norm on the pair's batch (a converter that misplaced a tensor, or a batch
that fed the two sides different targets, fails here)."""

import jax
import numpy as np
import pytest
import torch

from tests.reference_packages import import_reference

import_reference("torch")
transformers = import_reference("transformers")

from experiments.benchmarks import family  # noqa: E402  (needs torch)
from experiments.benchmarks.family_pairs import PAIRS, torch_loss  # noqa: E402


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_both_sides_of_a_pair_agree_on_loss_and_gradient(name):
    shape = family.PRESETS["smoke"].shapes[name]
    pair = PAIRS[name](shape, "float32", transformers, np.random.default_rng(0))
    loss_fn, batch = pair.make_jax(None)

    def loss(params):
        return loss_fn(params, {}, batch, jax.random.key(0), False)[0]

    ours, grads = jax.value_and_grad(loss)(pair.params)
    our_grad_norm = float(np.sqrt(sum(np.sum(np.square(g)) for g in jax.tree.leaves(grads))))

    model = pair.hf_model.train()
    theirs = torch_loss(model, {k: torch.from_numpy(np.array(v)).long() for k, v in batch.items()})
    theirs.backward()
    # Tied weights appear once in .parameters(), as in our tree.
    their_grad_norm = float(torch.sqrt(sum((p.grad**2).sum() for p in model.parameters())))
    assert float(ours) == pytest.approx(theirs.item(), rel=1e-5)
    assert our_grad_norm == pytest.approx(their_grad_norm, rel=1e-4)
    tokens = batch["inputs"].size + (batch["targets"].size if name == "t5" else 0)
    assert pair.tokens_per_step == tokens
