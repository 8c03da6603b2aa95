"""experiments/ is one floor above research/: entry scripts are leaves.

An entry script (a module of experiments/ that calls `entry.run`) may import research/, the
standard library, third-party packages and the shared experiment helpers below; never another entry
script and never a config module (a composed experiment nests the other's config as a section of
its own config file instead). Shared task code belongs in research/tasks/.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED_HELPERS = {"experiments", "experiments.entry", "experiments.results", "experiments.figures",
                  "experiments.stages"}  # fmt: skip


def entry_scripts() -> list[pathlib.Path]:
    return sorted(
        path
        for path in (ROOT / "experiments").rglob("*.py")
        if "entry.run(" in path.read_text() and path.name != "entry.py"
    )


def experiment_imports(path: pathlib.Path) -> set[str]:
    """Every module under `experiments` that `path` imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from experiments import entry` imports experiments.entry.
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {
        name
        for name in names
        if name.split(".")[0] == "experiments" and not _is_attribute(name, names)
    }


def _is_attribute(name: str, names: set[str]) -> bool:
    """`from experiments.figures import plt` names experiments.figures.plt, not a module."""
    parent = name.rsplit(".", 1)[0]
    return parent != "experiments" and parent in SHARED_HELPERS and parent in names


def test_there_are_entry_scripts_to_check():
    scripts = {p.stem for p in entry_scripts()}
    assert {"train_lm", "train_t5", "embeddings_compare", "attention_scale"} <= scripts


@pytest.mark.parametrize("path", entry_scripts(), ids=lambda p: p.stem)
def test_entry_script_imports_only_research_and_shared_helpers(path):
    forbidden = sorted(experiment_imports(path) - SHARED_HELPERS)
    assert not forbidden, (
        f"{path.relative_to(ROOT)} imports {forbidden}: move shared code to research/tasks/ and "
        "nest another experiment's config as a section of this one's config file."
    )


def test_the_check_sees_a_forbidden_import(tmp_path):
    """The bug this file guards against, planted: a script importing another and a config."""
    script = tmp_path / "bad.py"
    script.write_text(
        "from experiments import entry, train_lm\n"
        "from experiments.configs.lm import gpt_tiny\n"
        "def f():\n    from experiments.text_classification import select_classes\n"
        "entry.run(f)\n"
    )
    assert experiment_imports(script) - SHARED_HELPERS == {
        "experiments.train_lm",
        "experiments.configs.lm",
        "experiments.configs.lm.gpt_tiny",
        "experiments.text_classification",
        "experiments.text_classification.select_classes",
    }
