"""Checkpoints: Orbax `CheckpointManager` holding the train state and the data iterator's position.

Layout: `<workdir>/checkpoints/<step>/{state, data}`; `state` is the sharded `TrainState`, `data` the
iterator's JSON state, so a restart continues with exactly the batches an uninterrupted run would see.
Saves are asynchronous and atomic (Orbax writes `<step>.orbax-checkpoint-tmp-*` and renames it when
complete; unfinished ones are ignored on restore).

Restore is careful with the user's data:
- a checkpoint whose shapes differ from what the config builds is refused with the first differing
  parameter named, and nothing is changed on disk;
- a latest checkpoint that fails to load is moved aside to `corrupt-<step>-<time>` with a warning, and
  the previous one is tried.
"""

import dataclasses
import time

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from absl import logging
from etils import epath
from jax.experimental import multihost_utils


class CheckpointMismatchError(ValueError):
    """A checkpoint in the workdir does not fit the model the config builds."""


@dataclasses.dataclass
class Restored:
    step: int
    state: object
    data_state: dict


def _path_str(path) -> str:
    return "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path)


def _leaves_by_path(tree) -> dict:
    # Empty dicts count as leaves: a stateless model's `model_state` is `{}`, and a checkpoint
    # written without that entry must be refused here, not fail in Orbax and be set aside as corrupt.
    empty = lambda x: isinstance(x, dict) and not x
    leaves = jax.tree_util.tree_leaves_with_path(tree, is_leaf=empty)
    return {_path_str(p): x for p, x in leaves}


def _shape(x) -> tuple | str:
    return tuple(x.shape) if hasattr(x, "shape") else "{}"


def check_shapes(saved_tree, abstract_state, where: str) -> None:
    """Raises CheckpointMismatchError naming the first leaf whose structure, shape or dtype differs."""
    saved, wanted = _leaves_by_path(saved_tree), _leaves_by_path(abstract_state)
    advice = (
        "use a new --workdir, or run with the config that wrote it (saved as config.json in the "
        "workdir); the checkpoint was left untouched."
    )
    for name in sorted(wanted.keys() - saved.keys()):
        raise CheckpointMismatchError(
            f"The checkpoint {where} has no parameter {name!r} that the config builds; {advice}"
        )
    for name in sorted(saved.keys() - wanted.keys()):
        raise CheckpointMismatchError(
            f"The checkpoint {where} has a parameter {name!r} that the config does not build; {advice}"
        )
    # Parameters first: the optimizer's moments mirror them and would name the same problem twice.
    for name in sorted(wanted, key=lambda n: (not n.startswith("params/"), n)):
        have, want = _shape(saved[name]), _shape(wanted[name])
        if have == want == "{}":
            continue  # an empty collection on both sides
        if have != want:
            raise CheckpointMismatchError(
                f"The checkpoint {where} has {name!r} of shape {have} but the config builds "
                f"{want}; {advice}"
            )
        have_dtype, want_dtype = getattr(saved[name], "dtype", None), wanted[name].dtype
        if have_dtype is not None and jnp.dtype(have_dtype) != jnp.dtype(want_dtype):
            raise CheckpointMismatchError(
                f"The checkpoint {where} has {name!r} of dtype {jnp.dtype(have_dtype).name} but "
                f"the config builds {jnp.dtype(want_dtype).name}; {advice}"
            )


class _LoopDrivenManager(ocp.CheckpointManager):
    """A CheckpointManager that leaves preemption to the training loop.

    Orbax's own `reached_preemption` calls JAX's sync point with the step of every save, also from
    its async finalize thread; JAX remembers the last step it was asked about, so a save finishing
    late rewinds that record and a SIGTERM arriving afterwards names a step the loop already
    passed, and is missed. The loop's `PreemptionWatcher` is the only caller of the sync point.
    """

    def reached_preemption(self, step: int) -> bool:
        del step
        return False


class Checkpointer:
    """Saves and restores `(TrainState, data iterator state)` pairs under one directory."""

    def __init__(self, directory, *, max_to_keep: int, async_save: bool = True):
        self.directory = epath.Path(directory)
        self._options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=async_save, create=True
        )
        self._manager = self._open()

    def _open(self) -> ocp.CheckpointManager:
        # Naming the handlers lets a fresh manager read metadata of checkpoints it did not write.
        handlers = {"state": ocp.StandardCheckpointHandler(), "data": ocp.JsonCheckpointHandler()}
        return _LoopDrivenManager(self.directory, options=self._options, item_handlers=handlers)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state, data_state: dict, *, force: bool = False) -> bool:
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state)
        )
        return self._manager.save(step, args=args, force=force)

    def restore_latest(self, abstract_state) -> Restored | None:
        """Restores the newest checkpoint that loads, or returns None when there is none.

        Newer checkpoints that fail to load are set aside (kept as `corrupt-<step>-<time>`); when
        every checkpoint fails, nothing is moved and a ValueError says so: a run's progress is
        never thrown away silently.

        `abstract_state`: a tree of `jax.ShapeDtypeStruct` with shardings, like the state to restore.
        """
        corrupt = []
        restored = None
        for step in sorted(self.all_steps(), reverse=True):
            where = f"{self.directory / str(step)}"
            try:
                metadata = self._manager.item_metadata(step)["state"]
                saved_tree = getattr(metadata, "tree", metadata)
                if saved_tree is None:
                    raise ValueError("no state metadata")
            except Exception as e:  # noqa: BLE001 - any unreadable metadata means a broken checkpoint
                logging.warning(
                    "Checkpoint %s has unreadable metadata (%s); skipping it.", where, e
                )
                corrupt.append(step)
                continue
            check_shapes(saved_tree, abstract_state, where)
            try:
                args = ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore()
                )
                result = self._manager.restore(step, args=args)
            except Exception as e:  # noqa: BLE001 - a failed read of a complete-looking checkpoint
                logging.warning("Checkpoint %s failed to load (%s); skipping it.", where, e)
                corrupt.append(step)
                continue
            restored = Restored(step=step, state=result["state"], data_state=result["data"])
            break
        if corrupt and restored is None:
            # Setting them aside would make the next run start again from step 0 in silence.
            raise ValueError(
                f"None of the checkpoints in {self.directory} loads (steps "
                f"{', '.join(map(str, sorted(corrupt)))}; the log names each failure) and none "
                "was changed; restore their files, or move the checkpoints directory away (or use "
                "a new --workdir) to start again from step 0 on purpose."
            )
        if corrupt:
            self._set_aside(corrupt)
        return restored

    def _set_aside(self, steps: list[int]) -> None:
        """Moves unloadable checkpoints out of Orbax's view, keeping their files for inspection."""
        self._manager.close()
        if jax.process_index() == 0:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for step in steps:
                target = self.directory / f"corrupt-{step}-{stamp}"
                (self.directory / str(step)).rename(target)
                logging.warning("Moved the unloadable checkpoint of step %d to %s.", step, target)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("checkpoints set aside")
        self._manager = self._open()

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()
