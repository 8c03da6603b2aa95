"""Tests for research/nn/reference_attention.py: the masked softmax by hand (a fully masked row is
exactly 0 with no gradient, partially masked rows are the softmax over their real entries), and
the attention modules' import graph has no cycle."""

import ast
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from research.nn.reference_attention import masked_softmax

NN = pathlib.Path(__file__).parents[3] / "research" / "nn"


def test_masked_softmax_by_hand():
    scores = jnp.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    mask = jnp.array([[True, False, True], [False, False, False], [True, True, True]])
    e2 = np.exp(2.0)
    want_row0 = [1 / (1 + e2), 0.0, e2 / (1 + e2)]  # softmax of [1, 3] on the real entries
    got = masked_softmax(scores, mask)
    np.testing.assert_allclose(got[0], want_row0, rtol=1e-6)
    np.testing.assert_array_equal(got[0, 1], 0.0)  # exactly 0, not merely small
    np.testing.assert_array_equal(got[1], [0.0, 0.0, 0.0])  # fully masked: zeros, not 1/3
    np.testing.assert_allclose(got[2], jax.nn.softmax(scores[2]), rtol=1e-6)  # unmasked: as is
    np.testing.assert_allclose(masked_softmax(scores, None), jax.nn.softmax(scores), rtol=1e-6)
    weights = jnp.array([[1.0, 2.0, 3.0]] * 3)
    grad = jax.grad(lambda s: jnp.sum(masked_softmax(s, mask) * weights))(scores)
    np.testing.assert_array_equal(grad[1], 0.0)  # no gradient through a fully masked row
    np.testing.assert_array_equal(grad[0, 1], 0.0)
    assert np.abs(grad[0, [0, 2]]).min() > 0


def _imports(path):
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):  # imports inside functions too: a hidden one is still a cycle
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n.split(".")[2] for n in names if n.startswith("research.nn.")}


def test_the_attention_modules_import_no_cycle():
    # Catches attention.py and local_attention.py importing each other again (the einsum path
    # lives in reference_attention.py, which both import and which imports neither).
    graph = {path.stem: _imports(path) for path in NN.glob("*.py")}
    assert "reference_attention" in graph["local_attention"]
    assert "local_attention" in graph["attention"]

    def reaches(start, target, seen=()):
        return any(
            nxt == target or (nxt not in seen and reaches(nxt, target, (*seen, nxt)))
            for nxt in graph.get(start, ())
        )

    for module in graph:
        assert not reaches(module, module), f"research/nn/{module}.py imports itself in a cycle"
