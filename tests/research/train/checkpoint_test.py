"""Tests for research/train/checkpoint.py: exact round trips, retention, refusal and recovery."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research.train.checkpoint import Checkpointer, CheckpointMismatchError, check_shapes
from research.train.state import TrainState


def _state(scale: float = 1.0, width: int = 3) -> TrainState:
    params = {
        "dense": {
            "kernel": scale * jnp.arange(2.0 * width).reshape(2, width),
            "bias": jnp.ones(width),
        },
    }
    model_state = {"batch_stats": {"mean": scale * jnp.arange(1.0, width + 1)}}
    state = TrainState.create(params, optax.adam(0.1), model_state=model_state)
    grads = jax.tree.map(lambda p: p * 0.5 + scale, params)  # non-zero moments, so they are checked
    updates, opt_state = optax.adam(0.1).update(grads, state.opt_state, params)
    return state.replace(
        step=jnp.asarray(int(scale), jnp.int32),
        params=optax.apply_updates(params, updates),
        opt_state=opt_state,
    )


def _abstract(state):
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state
    )


def _assert_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _save(directory, steps, **kwargs):
    ckpt = Checkpointer(directory, max_to_keep=kwargs.pop("max_to_keep", 5), **kwargs)
    for step in steps:
        ckpt.save(step, _state(step), {"next_index": step * 10})
    ckpt.wait()
    ckpt.close()


def test_save_restore_roundtrip_is_exact(tmp_path):
    state = _state(7.0)
    ckpt = Checkpointer(tmp_path, max_to_keep=3)
    assert ckpt.save(7, state, {"next_index": 70, "epoch": [1, 2]})
    ckpt.wait()
    ckpt.close()
    restored = Checkpointer(tmp_path, max_to_keep=3).restore_latest(_abstract(state))
    assert restored.step == 7
    assert restored.data_state == {"next_index": 70, "epoch": [1, 2]}
    _assert_equal(restored.state, state)
    assert isinstance(restored.state, TrainState)


def test_restores_the_newest_and_keeps_the_last_n(tmp_path):
    _save(tmp_path, [1, 2, 3], max_to_keep=2)
    ckpt = Checkpointer(tmp_path, max_to_keep=2)
    assert ckpt.all_steps() == [2, 3] and ckpt.latest_step() == 3
    assert sorted(os.listdir(tmp_path)) == ["2", "3"]
    restored = ckpt.restore_latest(_abstract(_state()))
    assert restored.step == 3 and restored.data_state == {"next_index": 30}
    _assert_equal(restored.state, _state(3))


def test_synchronous_saves_work_too(tmp_path):
    _save(tmp_path, [4], async_save=False)
    restored = Checkpointer(tmp_path, max_to_keep=2).restore_latest(_abstract(_state()))
    _assert_equal(restored.state, _state(4))


def test_empty_directory_restores_nothing(tmp_path):
    assert (
        Checkpointer(tmp_path / "none", max_to_keep=2).restore_latest(_abstract(_state())) is None
    )


def test_unfinished_save_is_ignored(tmp_path):
    _save(tmp_path, [1])
    unfinished = tmp_path / "2.orbax-checkpoint-tmp-123"
    (unfinished / "state").mkdir(parents=True)
    (unfinished / "state" / "garbage").write_bytes(b"\0" * 10)
    ckpt = Checkpointer(tmp_path, max_to_keep=3)
    assert ckpt.all_steps() == [1]
    restored = ckpt.restore_latest(_abstract(_state()))
    assert restored.step == 1
    _assert_equal(restored.state, _state(1))


def _truncate_data_files(step_dir) -> int:
    damaged = 0
    for root, _, files in os.walk(step_dir / "state"):
        for name in files:
            if name.startswith(("ocdbt", "d")) or root.endswith("/d"):
                path = os.path.join(root, name)
                with open(path, "r+b") as f:
                    f.truncate(max(os.path.getsize(path) // 3, 1))
                damaged += 1
    return damaged


def test_corrupt_latest_is_set_aside_and_the_previous_restored(tmp_path):
    _save(tmp_path, [1, 2])
    assert _truncate_data_files(tmp_path / "2")
    ckpt = Checkpointer(tmp_path, max_to_keep=3)
    restored = ckpt.restore_latest(_abstract(_state()))
    assert restored.step == 1 and restored.data_state == {"next_index": 10}
    _assert_equal(restored.state, _state(1))
    names = sorted(os.listdir(tmp_path))
    assert names[0] == "1" and len(names) == 2 and names[1].startswith("corrupt-2-")
    assert ckpt.all_steps() == [1]  # the manager no longer sees it
    ckpt.save(2, _state(2), {"next_index": 20})  # and the step can be saved again
    ckpt.wait()
    assert ckpt.all_steps() == [1, 2]


def test_every_checkpoint_unloadable_is_refused_and_nothing_moved(tmp_path):
    """All checkpoints truncated: the run used to set them all aside and start from step 0."""
    _save(tmp_path, [1, 2])
    assert _truncate_data_files(tmp_path / "1") and _truncate_data_files(tmp_path / "2")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match=r"None of the checkpoints .* loads \(steps 1, 2;"):
        Checkpointer(tmp_path, max_to_keep=3).restore_latest(_abstract(_state()))
    assert sorted(os.listdir(tmp_path)) == before == ["1", "2"]


def test_checkpoint_without_state_metadata_is_set_aside(tmp_path):
    _save(tmp_path, [1, 2])
    for root, _, files in os.walk(tmp_path / "2" / "state"):
        for name in files:
            os.remove(os.path.join(root, name))
    restored = Checkpointer(tmp_path, max_to_keep=3).restore_latest(_abstract(_state()))
    assert restored.step == 1
    assert any(n.startswith("corrupt-2-") for n in os.listdir(tmp_path))


def test_other_shapes_are_refused_and_the_files_kept(tmp_path):
    _save(tmp_path, [1])
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(
        CheckpointMismatchError, match=r"'params/dense/bias' of shape \(3,\).*\(4,\)"
    ):
        Checkpointer(tmp_path, max_to_keep=3).restore_latest(_abstract(_state(width=4)))
    assert sorted(os.listdir(tmp_path)) == before


def test_a_checkpoint_written_without_model_state_is_refused_and_kept(tmp_path):
    # The layout before TrainState had `model_state`: Orbax cannot restore it into the new
    # structure, so without the check it would be moved aside as corrupt and training restarted.
    old = _state(1)
    ckpt = Checkpointer(tmp_path, max_to_keep=3)
    ckpt.save(1, {"step": old.step, "params": old.params, "opt_state": old.opt_state}, {})
    ckpt.wait()
    ckpt.close()
    stateless = _state(1).replace(model_state={})
    with pytest.raises(CheckpointMismatchError, match=r"has no parameter 'model_state' that"):
        Checkpointer(tmp_path, max_to_keep=3).restore_latest(_abstract(stateless))
    assert sorted(os.listdir(tmp_path)) == ["1"]


def test_model_state_of_other_shapes_is_refused(tmp_path):
    _save(tmp_path, [1])
    other = _state(1).replace(model_state={"batch_stats": {"mean": jnp.zeros(5)}})
    with pytest.raises(
        CheckpointMismatchError, match=r"'model_state/batch_stats/mean' of shape \(3,\).*\(5,\)"
    ):
        Checkpointer(tmp_path, max_to_keep=3).restore_latest(_abstract(other))


def _sds(*shape, dtype=jnp.float32):
    return jax.ShapeDtypeStruct(shape, dtype)


def test_check_shapes_names_missing_extra_and_different_leaves():
    wanted = {"params": {"a": _sds(2), "b": _sds(3)}, "opt_state": {"a": _sds(2), "b": _sds(3)}}
    check_shapes(wanted, wanted, "here")  # identical: no error
    missing = {"params": {"a": _sds(2)}, "opt_state": wanted["opt_state"]}
    with pytest.raises(CheckpointMismatchError, match=r"here has no parameter 'params/b'"):
        check_shapes(missing, wanted, "here")
    extra = {**wanted, "params": {**wanted["params"], "c": _sds(1)}}
    with pytest.raises(
        CheckpointMismatchError, match=r"has a parameter 'params/c' that the config"
    ):
        check_shapes(extra, wanted, "here")
    # Both the parameter and its optimizer moment differ; the parameter is named although
    # 'opt_state/...' sorts first.
    other = {"params": {"a": _sds(2), "b": _sds(5)}, "opt_state": {"a": _sds(7), "b": _sds(5)}}
    with pytest.raises(
        CheckpointMismatchError, match=r"'params/b' of shape \(5,\) but the config builds \(3,\)"
    ):
        check_shapes(other, wanted, "here")
    with pytest.raises(CheckpointMismatchError, match="use a new --workdir"):
        check_shapes(other, wanted, "here")


def test_check_shapes_refuses_a_different_dtype():
    wanted = {"params": {"a": _sds(2)}}
    with pytest.raises(CheckpointMismatchError, match="params/a"):
        check_shapes({"params": {"a": _sds(2, dtype=jnp.bfloat16)}}, wanted, "here")
