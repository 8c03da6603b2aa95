"""Preempting one stage of an in-process experiment, as SIGTERM would, for the stage-runner tests.

    preempt_stage(monkeypatch, 2)      # the 2nd `loop.train` call of the test stops after 1 step
    with pytest.raises(StagePreempted, match="'finetune_pretrained'"):
        experiment.main(config, workdir)

The loop asks its `PreemptionWatcher` after every step; the patched watcher of the chosen call
answers yes at once, so that stage saves its checkpoint at step `steps_per_call` and returns
preempted, exactly as after a real SIGTERM (tested with real signals in tests/research/train/).
"""

from research.train import loop


def preempt_stage(monkeypatch, call_number: int) -> None:
    """Makes the `call_number`-th (1-based) `loop.train` call from now on stop for preemption."""
    calls = {"count": 0}
    real_watcher = loop.PreemptionWatcher

    class Watcher(real_watcher):
        def __init__(self):
            super().__init__()
            calls["count"] += 1
            self.fire = calls["count"] == call_number

        def reached(self, step: int) -> bool:
            return self.fire or super().reached(step)

    monkeypatch.setattr(loop, "PreemptionWatcher", Watcher)
