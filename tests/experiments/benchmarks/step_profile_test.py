"""Tests for experiments/benchmarks/step_profile.py: HLO lookup, categories, a smoke-size profile."""

import re

from experiments.benchmarks import step_profile, train_step
from research.models import transformer_lm

HLO = """HloModule jit_train_step

%fused_computation.7 (param_0: f32[4,8], param_1: f32[8,16]) -> f32[4,16] {
  %param_0 = f32[4,8]{1,0} parameter(0)
  %param_1 = f32[8,16]{1,0} parameter(1)
  ROOT %dot.3 = f32[4,16]{1,0} dot(%param_0, %param_1), lhs_contracting_dims={1}
}

ENTRY %main (x: f32[4,8], w: f32[8,16]) -> f32[4,16] {
  %x = f32[4,8]{1,0} parameter(0)
  %w = f32[8,16]{1,0} parameter(1)
  %gemm_fusion.7 = f32[4,16]{1,0} fusion(%x, %w), kind=kCustom, calls=%fused_computation.7, metadata={op_name="jit(train_step)/jvp(Model)/block_0/mlp/wi/dot_general"}
  ROOT %add.1 = f32[4,16]{1,0} add(%gemm_fusion.7, %gemm_fusion.7), metadata={op_name="jit(train_step)/add"}
}
"""  # noqa: E501


def test_a_fusion_is_categorized_by_its_body_and_located_by_its_metadata():
    table = step_profile.hlo_instructions(HLO)
    text, where = table["gemm_fusion.7"]
    assert "dot(" in text  # the called computation's body is part of the fusion's text
    assert step_profile.categorize(text) == "matmul"
    assert where == "jit(train_step)/jvp(Model)/block_0/mlp/wi/dot_general"
    assert step_profile.categorize(table["add.1"][0]) == "elementwise / other"
    # GPU kernel names: cuDNN's and cuBLAS's by library, XLA's by their fusion's name.
    assert step_profile.categorize("cudnn_generated_fort_native_sdpa_sm90_flash_bprop") == (
        "attention (cuDNN)"
    )
    assert step_profile.categorize("nvjet_sm90_tst_128x128_64x6_2x1_v_bz_NNT") == "matmul"


def test_smoke_profile_attributes_the_step_to_its_xla_ops(tmp_path, capsys):
    s = train_step.PRESETS["smoke"]
    config = transformer_lm.make(
        s.variant, **s.overrides, dtype=s.dtype, attention_impl=s.attention_impls[0]
    ).config
    host_params, tokens = train_step.params_and_tokens(config, s)
    categories = step_profile.profile_jax(
        config, host_params, tokens, s, str(tmp_path), steps=2, top=10_000, warmup=1
    )
    assert categories["matmul"] > 0 and sum(categories.values()) > categories["matmul"]
    assert "ENTRY" in (tmp_path / "jax_step.hlo.txt").read_text()
    printed = capsys.readouterr().out.splitlines()
    # Every op is listed (top covers them all, so the assertions do not hang on which op is slowest):
    # the header's op count matches the listed rows, and matmuls are located in the model's blocks.
    n_ops = int(re.search(r"over (\d+) ops", printed[0]).group(1))
    rows = [line for line in printed if "|" in line]
    assert len(rows) == n_ops
    assert any(" matmul " in row and "block_0" in row for row in rows)
