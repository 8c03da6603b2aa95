"""Tests for experiments/results.py: both files written whole, replaced whole, nothing left over."""

import json

from experiments.results import write_results


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
