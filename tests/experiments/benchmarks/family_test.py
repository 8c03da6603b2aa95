"""The family benchmark runs end to end at tiny shapes and reports consistent numbers (correctness
only: no timing is asserted)."""

import json
import math

import pytest
from absl import flags

from tests.reference_packages import import_reference

import_reference("torch")
import_reference("transformers")

from experiments.benchmarks import family  # noqa: E402  (needs torch)


def _parse(*args):
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["family", *args])


def test_smoke_preset_measures_every_model_against_hf_from_the_same_weights(tmp_path):
    out = tmp_path / "family.json"
    try:
        _parse("--preset=smoke", "--steps=1", "--warmup=0", f"--json_out={out}")
        family.main(["family"])
    finally:
        flags.FLAGS.unparse_flags()
    results = {r["model"]: r for r in json.loads(out.read_text())["results"]}
    assert sorted(results) == ["BERT", "GPT-2", "T5"]
    vocab = {"GPT-2": 257, "BERT": 4096, "T5": 320}
    for name, r in results.items():
        jax_result, torch_result = r["jax"], r["torch"]
        assert r["ratio_jax_over_torch"] == pytest.approx(
            jax_result["tokens_per_s"] / torch_result["tokens_per_s"]
        )
        # Same weights (exported through our converters) and batch, dropout off: the first
        # losses agree, and are of the order of log(V) for a freshly initialized model (T5's
        # unit-variance embedding gives larger logits). A converter that misplaced a tensor, or a
        # step that trained a different objective, would break this.
        assert jax_result["first_loss"] == pytest.approx(torch_result["first_loss"], rel=1e-4)
        assert 0.9 < jax_result["first_loss"] / math.log(vocab[name]) < 1.5, name
    # Tokens per step: T5 counts its inputs and its targets (a quarter of the input length).
    assert results["GPT-2"]["tokens_per_step"] == results["BERT"]["tokens_per_step"] == 2 * 16
    assert results["T5"]["tokens_per_step"] == 2 * (16 + 4)


def test_flags_override_every_model_and_unknown_models_are_refused():
    try:
        _parse("--preset=gpu", "--batch=4", "--seq_len=256", "--dtype=float32", "--steps=3",
               "--torch_threads=1")  # fmt: skip
        s = family.settings_from_flags()
    finally:
        flags.FLAGS.unparse_flags()
    assert {shape.batch for shape in s.shapes.values()} == {4}
    assert {shape.seq_len for shape in s.shapes.values()} == {256}
    assert (s.dtype, s.steps, s.attention_impls, s.torch_threads) == ("float32", 3, ("cudnn",), 1)
    assert s.shapes["bert"].variant == "base" and s.shapes["t5"].variant == "small"
    with pytest.raises(Exception, match="Unknown --models"):
        family.run(family.PRESETS["smoke"], ["gpt3"])


def test_table_lists_each_model():
    row = dict(
        model="T5", num_params=60_506_624, shape=dict(batch=16, seq_len=512),
        torch=dict(tokens_per_s=1000.0), jax=dict(tokens_per_s=1500.0), ratio_jax_over_torch=1.5,
    )  # fmt: skip
    text = family.table([row])
    assert "| T5 | 60,506,624 | 16 x 512 | 1,000 | 1,500 | 1.50 |" in text
