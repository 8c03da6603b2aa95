"""Tests for research/nn/embedding.py under a mesh: the token-embedding lookup and the tied output
layer partition over a table sharded on vocabulary (`tensor`) and width (`fsdp`).

The bug these catch: a plain `jnp.take` from that table, with ids sharded over the batch, is a
gather XLA cannot partition, so it replicates the whole table every step and prints
"[SPMD] Involuntary full rematerialization" (from C++, to the process's stderr: `capfd` sees it).
"""

import re
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from research.models import transformer_lm
from research.nn.embedding import Embed
from research.sharding import partition
from research.sharding.axes import RULES
from research.sharding.mesh import make_mesh
from research.train.losses import classification_loss
from research.train.optimizer import make_optimizer
from research.train.state import TrainState
from research.train.step import make_train_step

REMAT_WARNING = "Involuntary full rematerialization"
# An HLO collective's result shape, opcode and op_name: `%x = f32[2,32,64]{2,1,0} all-reduce(...`.
COLLECTIVE = re.compile(
    r"= \w+\[([\d,]*)\]\S* (all-gather|all-reduce|all-to-all|collective-permute|reduce-scatter)\("
    r"[^\n]*?op_name=\"([^\"]*)\""
)


@pytest.mark.timeout(300)
def test_sharded_lm_train_step_compiles_without_rematerializing_the_table(capfd):
    # The main job's smoke model on data=2, fsdp=2, tensor=2, built as the training loop builds
    # its step: parameters born sharded by the default rules, batch sharded over data x fsdp.
    model = transformer_lm.make(
        None, num_layers=2, embed_dim=64, num_heads=2, mlp_dim=128, max_len=32
    )
    vocab, width = model.config.padded_vocab_size, model.config.embed_dim  # 320, 64
    optimizer = types.SimpleNamespace(
        learning_rate=1e-3,
        warmup_steps=0,
        decay="constant",
        end_learning_rate_ratio=1.0,
        b1=0.9,
        b2=0.95,
        eps=1e-8,
        weight_decay=0.1,
        grad_clip_norm=1.0,
    )
    tx = make_optimizer(optimizer, 10)

    def loss_fn(params, model_state, batch, rng, train):
        logits = model.apply({"params": params}, batch["inputs"], train=train)
        loss, metrics = classification_loss(logits, batch["targets"])
        return loss, metrics, model_state

    def init_state(rng):
        params = model.init(rng, jnp.zeros((1, 32), jnp.int32))["params"]
        return TrainState.create(params, tx)

    mesh = make_mesh(data=2, fsdp=2, tensor=2)
    tokens = np.random.default_rng(0).integers(0, 257, (8, 33)).astype(np.int32)
    with jax.set_mesh(mesh), nn.logical_axis_rules(list(RULES)):
        shardings = partition.state_shardings(
            jax.eval_shape(init_state, jax.random.key(0)), mesh, RULES
        )
        state = jax.jit(lambda r: nn.unbox(init_state(r)), out_shardings=shardings)(
            jax.random.key(0)
        )
        assert state.params["embed"]["embedding"].sharding.spec == P("tensor", "fsdp")
        batch_sharding = partition.batch_sharding(mesh, RULES)
        batch = jax.device_put({"inputs": tokens[:, :-1], "targets": tokens[:, 1:]}, batch_sharding)
        capfd.readouterr()  # drop what earlier compilations printed
        step = jax.jit(
            make_train_step(loss_fn, tx, 0, False),
            in_shardings=(shardings, batch_sharding),
            out_shardings=(shardings, None),
        )
        hlo = step.lower(state, batch).compile().as_text()
        _, metrics = step(state, batch)
        loss = float(jax.block_until_ready(metrics["loss"][0]) / metrics["loss"][1])
    assert REMAT_WARNING not in capfd.readouterr().err
    # The lookup's own collectives (before the fix XLA all-gathered either the table's whole
    # vocabulary or the whole batch of ids and embeddings, depending on shapes) stay within a
    # device's 2 rows and the table's vocabulary shard. The one [V/2, D] all-gather of the table
    # (the FSDP gather of its width) serves both the lookup and the tied output.
    lookup = [
        (op, [int(n) for n in dims.split(",") if n])
        for dims, op, name in COLLECTIVE.findall(hlo)
        if "/embed/" in name
    ]
    assert lookup, "no collectives found for the lookup: has the HLO text format changed?"
    for op, dims in lookup:
        assert vocab not in dims and dims[0] != len(tokens), (op, dims)
    table_gathers = [
        op for dims, op, name in COLLECTIVE.findall(hlo) if dims == f"{vocab // 2},{width}"
    ]
    assert table_gathers == ["all-gather"], table_gathers
    assert abs(loss - np.log(257)) < 0.3  # a real step ran: about uniform at init


def test_sharded_lookup_and_tied_output_equal_the_unsharded_ones_bit_for_bit():
    table = jax.random.normal(jax.random.key(0), (16, 8), jnp.float32)
    ids = jax.random.randint(jax.random.key(1), (8, 5), 0, 16, jnp.int32)
    x = jax.random.normal(jax.random.key(2), (8, 5, 8), jnp.float32)
    embed = Embed(16, 8)

    def both(params, ids, x):
        lookup = embed.apply({"params": params}, ids)
        logits = embed.apply({"params": params}, x, method="attend")
        return lookup, logits

    expected = jax.jit(both)({"embedding": table}, ids, x)
    mesh = make_mesh(data=2, fsdp=2, tensor=2)
    with jax.set_mesh(mesh), nn.logical_axis_rules(list(RULES)):
        sharded_table = jax.device_put(table, NamedSharding(mesh, P("tensor", "fsdp")))
        rows = NamedSharding(mesh, P(("data", "fsdp")))
        got = jax.jit(both)({"embedding": sharded_table}, jax.device_put(ids, rows), x)
    # The lookup is an exact copy of rows (each vocabulary shard gathers what it holds, an
    # all-reduce adds zeros); the logits contract the same 8 products per entry.
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[0], np.asarray(table)[np.asarray(ids)])
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-6, atol=1e-6)
