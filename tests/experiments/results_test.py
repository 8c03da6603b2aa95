"""Tests for experiments/results.py: both files written whole, replaced whole, nothing left over."""

import json
import pathlib

from experiments.results import finetune_summary, write_results
from experiments.stages import StageResult


def test_writes_json_and_markdown_and_replaces_them_whole(tmp_path):
    workdir = tmp_path / "new" / "run"  # created on demand
    assert write_results(workdir, {"loss": 0.5, "rows": [1, 2]}, "| a |\n|---|")
    assert json.loads((workdir / "results.json").read_text()) == {"loss": 0.5, "rows": [1, 2]}
    assert (workdir / "results.md").read_text() == "| a |\n|---|\n"  # a final newline added
    # A second run replaces both; no temporary file is left beside them.
    assert write_results(workdir, {"loss": 0.25}, "| b |\n")
    assert json.loads((workdir / "results.json").read_text()) == {"loss": 0.25}
    assert (workdir / "results.md").read_text() == "| b |\n"
    assert sorted(p.name for p in workdir.iterdir()) == ["results.json", "results.md"]


def test_without_a_table_only_the_json_is_written(tmp_path):
    assert write_results(tmp_path, {"x": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_finetune_summary_reads_each_stages_final_metrics_into_results_and_table():
    """Exact results and table from hand-made StageResults: a swapped start, a metric read from
    the wrong stage or a row under the wrong stage would show."""

    def stage(name, step, **metrics):
        metrics = {f"eval/{k}": v for k, v in metrics.items()}
        return StageResult(name, pathlib.Path(name), step, metrics, params=None, model_state=None)

    pre = stage("pretrain", 20, loss=4.5, accuracy=0.25, unigram_loss=6.0)
    fine = {
        "pretrained": stage("finetune_pretrained", 10, loss=1.0, accuracy=0.75),
        "scratch": stage("finetune_scratch", 10, loss=1.5, accuracy=0.5),
    }
    results, table = finetune_summary(
        pre, fine, ("os", "re"), pretrain="MLM",
        rows={"eval_loss": ("eval/loss", "eval loss"), "unigram": ("eval/unigram_loss", "unigram")},
        metric=("accuracy", "test accuracy"),
    )  # fmt: skip
    assert results == {
        "pretrain": {"steps": 20, "eval_loss": 4.5, "unigram": 6.0},
        "finetune": {
            "pretrained": {"steps": 10, "accuracy": 0.75, "loss": 1.0},
            "scratch": {"steps": 10, "accuracy": 0.5, "loss": 1.5},
        },
        "classes": ["os", "re"],
    }
    assert table == (
        "| stage | steps | metric | value |\n|---|---:|---|---:|\n"
        "| MLM | 20 | eval loss | 4.500 |\n| | | unigram | 6.000 |\n"
        "| fine-tune (pretrained) | 10 | test accuracy (2 classes) | 0.750 |\n"
        "| fine-tune (scratch) | 10 | test accuracy (2 classes) | 0.500 |\n\nClasses: os, re.\n"
    )
