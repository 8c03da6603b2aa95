"""A composed experiment's word-vector run: the schedule in epochs, rounded up to whole calls."""

import ml_collections
import pytest

from research.tasks.word_vectors import set_schedule


@pytest.mark.parametrize(
    "steps, per_call, expected",
    [
        # (steps asked, steps_per_call) -> (num_train_steps, log_every, eval = checkpoint = last)
        (1000.0, 10, (1000, 100)),  # 100 calls: a log line every 10 calls
        (1001.0, 10, (1010, 100)),  # rounded up to a whole call, never down
        (37.5, 8, (40, 8)),  # 5 calls: fewer than 10, so every call logs
        (0.2, 4, (4, 4)),  # at least one call
    ],
)
def test_schedule_is_whole_calls_ten_log_lines_and_one_evaluation(steps, per_call, expected):
    config = ml_collections.ConfigDict({"steps_per_call": per_call})
    set_schedule(config, steps)
    total, log_every = expected
    assert (config.num_train_steps, config.log_every_steps) == (total, log_every)
    assert config.eval_every_steps == config.checkpoint_every_steps == total
