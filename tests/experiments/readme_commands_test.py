"""Every `python -m experiments.<script> --config=... --config.<key>=...` command written in the
READMEs and in the config runbooks names a script that exists, a config file that loads (with its
argument) and only keys that config has: a key renamed or moved under a section (`--config.lm.*`,
`--config.objective.*`) must take the docs with it, or a user's first copy-paste fails."""

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "launch" / "README.md"] + sorted(
    (ROOT / "experiments" / "configs").rglob("*.py")
)
COMMAND = re.compile(r"python -m (experiments\.[\w.]+)((?:[ \t]+--\S+)+)")


def commands() -> list[tuple[str, str, list[str]]]:
    """(where, script module, flags) of every documented command, continuation lines joined."""
    found = []
    for path in DOCS:
        text = re.sub(r"\\\n\s*", " ", path.read_text())
        for match in COMMAND.finditer(text):
            where = f"{path.relative_to(ROOT)}:{text[: match.start()].count(chr(10)) + 1}"
            found.append((where, match.group(1), match.group(2).split()))
    return found


def load_config(spec: str):
    path, _, arg = spec.partition(":")
    module_spec = importlib.util.spec_from_file_location("documented_config", ROOT / path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(arg) if arg else module.get_config()


def missing_key(config, key: str) -> str | None:
    """The first part of the dotted `key` that `config` lacks (None: the key exists)."""
    node = config
    for i, part in enumerate(key.split(".")):
        if not hasattr(node, "keys") or part not in node:
            return ".".join(key.split(".")[: i + 1])
        node = node[part]
    return None


def test_the_docs_hold_commands_to_check():
    scripts = {script for _, script, _ in commands()}
    assert {
        "experiments.train_lm",
        "experiments.train_t5",
        "experiments.attention_scale",
    } <= scripts


@pytest.mark.parametrize("where, script, flags", commands(), ids=[c[0] for c in commands()])
def test_documented_command_names_real_script_config_and_keys(where, script, flags):
    assert importlib.util.find_spec(script) is not None, f"{where}: no module {script}"
    specs = [f.split("=", 1)[1] for f in flags if f.startswith("--config=")]
    if not specs or "<" in specs[0]:
        return  # a template such as --config=<file>
    config = load_config(specs[0])
    for flag in flags:
        if flag.startswith("--config.") and "=" in flag:
            key = flag[len("--config.") : flag.index("=")]
            assert missing_key(config, key) is None, (
                f"{where}: --config.{key} is not a key of {specs[0]} "
                f"(no {missing_key(config, key)!r})"
            )


def test_the_check_sees_a_moved_key():
    """The bug this file guards against: attention_scale's optimizer moved under `lm`."""
    config = load_config("experiments/configs/attention/scale.py:smoke")
    assert missing_key(config, "lm.optimizer.learning_rate") is None
    assert missing_key(config, "optimizer.learning_rate") == "optimizer"
