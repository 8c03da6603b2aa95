"""Tests for research/models/__init__.py: models by name, forks under proj/, and one-sentence
errors for a typo, a non-model package and a file that breaks the contract."""

import pytest

import research.models.proj as proj
from research import models
from research.models import mlp_classifier, transformer_lm


def test_loads_the_model_files_by_name():
    assert models.load("transformer_lm") is transformer_lm
    assert models.load("mlp_classifier") is mlp_classifier
    assert {"mlp_classifier", "transformer_lm"} <= set(models.available())
    assert not any(name.startswith(("convert", "contract", "proj")) for name in models.available())


def test_a_typo_lists_the_available_models():
    with pytest.raises(ValueError, match=r"No model named 'transformer_ml' .*choose one of ") as e:
        models.load("transformer_ml")
    listed = str(e.value).split("choose one of ")[1].rstrip(".").split(", ")
    assert listed == models.available() and "transformer_lm" in listed
    for not_a_model in ("convert.hf_gpt2", "convert", "contract", "a-b", "", "proj..x"):
        with pytest.raises(ValueError, match="is not a model file's module path"):
            models.load(not_a_model)


def test_a_new_file_in_proj_is_loadable_by_name(tmp_path, monkeypatch):
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "__init__.py").write_text("")
    (tmp_path / "carol" / "tiny_lm.py").write_text(
        "Config = VARIANTS = Model = None\ndef make(variant=None, **overrides):\n    return 1\n"
    )
    (tmp_path / "carol" / "broken.py").write_text("Config = Model = None\n")
    monkeypatch.setattr(proj, "__path__", [*proj.__path__, str(tmp_path)])
    assert models.load("proj.carol.tiny_lm").make() == 1
    assert "proj.carol.tiny_lm" in models.available()
    with pytest.raises(ValueError, match=r"proj/carol/broken.py does not export VARIANTS, make"):
        models.load("proj.carol.broken")


def test_a_missing_dependency_inside_a_model_file_is_not_called_a_typo(tmp_path, monkeypatch):
    (tmp_path / "dave").mkdir()
    (tmp_path / "dave" / "__init__.py").write_text("")
    (tmp_path / "dave" / "needs_pkg.py").write_text("import a_package_that_is_not_installed\n")
    monkeypatch.setattr(proj, "__path__", [*proj.__path__, str(tmp_path)])
    with pytest.raises(ModuleNotFoundError, match="a_package_that_is_not_installed"):
        models.load("proj.dave.needs_pkg")
