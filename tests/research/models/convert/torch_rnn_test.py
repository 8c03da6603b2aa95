"""Tests for research/models/convert/torch_rnn.py.

Reference-free: a state dict whose every gate, unit and input position holds a distinct code lands
where the layout says. Parity: randomly initialized PyTorch `nn.RNN` (tanh, relu), `nn.LSTM` and
`nn.GRU` (1 and 2 layers, uni- and bidirectional, batch_first) are converted and both sides run
the same padded variable-length batch (`pack_padded_sequence(enforce_sorted=False)` against our
`lengths`) from the same initial states, in float32 (skipped without torch, failed under CI).
Observed max differences are ~1e-7; the tolerance is 1e-5.
"""

import flax.linen as nn
import jax
import numpy as np
import pytest

from research.models.convert.torch_rnn import from_torch_rnn_state_dict, to_torch_rnn_state_dict
from research.rnn.layer import RNN
from tests.reference_packages import import_reference

B, T, D_IN, H = 3, 5, 4, 6
TORCH_KINDS = ("elman_tanh", "elman_relu", "lstm", "gru")


def _torch_module(torch, kind, num_layers, bidirectional, batch_first=True, **kwargs):
    torch.manual_seed(0)
    common = dict(
        input_size=D_IN, hidden_size=H, num_layers=num_layers, bidirectional=bidirectional,
        batch_first=batch_first, **kwargs,
    )  # fmt: skip
    if kind.startswith("elman"):
        return torch.nn.RNN(nonlinearity=kind.removeprefix("elman_"), **common)
    return {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](**common)


def _inputs(kind, num_layers, directions, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, D_IN)).astype(np.float32)
    h0 = rng.normal(size=(num_layers * directions, B, H)).astype(np.float32)
    c0 = rng.normal(size=h0.shape).astype(np.float32) if kind == "lstm" else None
    return x, h0, c0


def _our_carry(h0, c0):
    return [(h, c) for h, c in zip(h0, c0, strict=True)] if c0 is not None else list(h0)


def test_every_gate_unit_and_input_lands_where_the_layout_says():
    """Catches a transposed kernel or a gate-major/unit-major mix-up (reshape [H,G] for [G,H])."""
    g, layers = 4, 2
    sd = {}
    for k in range(layers):
        for s, direction in (("", 0), ("_reverse", 1)):
            rows = np.arange(g * H)  # PyTorch rows are gate-major: row = gate * H + unit
            code = 10000 * k + 1000 * direction + 100 * (rows // H) + 10 * (rows % H)
            width = D_IN if k == 0 else 2 * H
            sd[f"weight_ih_l{k}{s}"] = code[:, None] + np.arange(width)[None, :] / 100
            sd[f"weight_hh_l{k}{s}"] = -(code[:, None] + np.arange(H)[None, :] / 100)
            sd[f"bias_ih_l{k}{s}"] = code + 0.5
            sd[f"bias_hh_l{k}{s}"] = code + 0.25
    params = from_torch_rnn_state_dict(sd, "lstm", layers, True)
    assert sorted(params) == ["layer_0_bwd", "layer_0_fwd", "layer_1_bwd", "layer_1_fwd"]
    p = params["layer_1_bwd"]
    assert p["wi"].shape == (2 * H, 4, H) and p["wh"].shape == (H, 4, H)
    # wi[input, gate, unit] = code(layer 1, reverse, gate, unit) + input / 100
    assert p["wi"][7, 2, 3] == np.float32(10000 + 1000 + 200 + 30 + 0.07)
    assert p["wh"][5, 3, 1] == np.float32(-(10000 + 1000 + 300 + 10 + 0.05))
    assert p["bi"][1, 4] == np.float32(11000 + 100 + 40 + 0.5)
    assert p["bh"][0, 2] == np.float32(11000 + 20 + 0.25)
    back = to_torch_rnn_state_dict(params, "lstm", layers, True)
    assert sorted(back) == sorted(sd)
    for key in sd:
        np.testing.assert_array_equal(back[key], sd[key].astype(np.float32), err_msg=key)


def _compare(torch, kind, num_layers, bidirectional, *, packed, time_major=False):
    directions = 2 if bidirectional else 1
    module = _torch_module(torch, kind, num_layers, bidirectional, batch_first=not time_major)
    x, h0, c0 = _inputs(kind, num_layers, directions)
    lengths = np.array([T, 2, 4]) if packed else None
    torch_x = torch.from_numpy(x.transpose(1, 0, 2).copy() if time_major else x)
    hx = torch.from_numpy(h0) if c0 is None else (torch.from_numpy(h0), torch.from_numpy(c0))
    with torch.no_grad():
        if packed:
            pack = torch.nn.utils.rnn.pack_padded_sequence(
                torch_x, torch.from_numpy(lengths), batch_first=not time_major,
                enforce_sorted=False,
            )  # fmt: skip
            out, state = module(pack, hx)
            out, _ = torch.nn.utils.rnn.pad_packed_sequence(
                out, batch_first=not time_major, total_length=T
            )
        else:
            out, state = module(torch_x, hx)
    params = from_torch_rnn_state_dict(module.state_dict(), kind, num_layers, bidirectional)
    model = RNN(kind, H, num_layers, bidirectional, time_major=time_major)
    ours, finals = model.apply(
        {"params": params},
        np.asarray(torch_x),
        lengths=lengths,
        initial_carry=_our_carry(h0, c0),
    )
    h_n = np.stack([f[0] if kind == "lstm" else f for f in finals])
    diffs = {"outputs": np.abs(np.asarray(ours) - out.numpy()).max()}
    torch_h = state[0] if kind == "lstm" else state
    diffs["h_n"] = np.abs(h_n - torch_h.numpy()).max()
    if kind == "lstm":
        c_n = np.stack([f[1] for f in finals])
        diffs["c_n"] = np.abs(c_n - state[1].numpy()).max()
    assert max(diffs.values()) < 1e-5, diffs
    return diffs


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", TORCH_KINDS)
def test_padded_batch_matches_torch_packed_sequence(kind, num_layers, bidirectional):
    """Catches a wrong gate order or layout, a GRU in the wrong reset form, padding leaking into
    the carry (h_n past the length), the backward direction starting at T instead of the length,
    and initial states assigned in the wrong layer/direction order."""
    torch = import_reference("torch")
    _compare(torch, kind, num_layers, bidirectional, packed=True)


@pytest.mark.parametrize("kind", TORCH_KINDS)
def test_full_length_batch_matches_torch(kind):
    """Catches a difference on the plain (unpacked, lengths=None) path, batch-major."""
    torch = import_reference("torch")
    _compare(torch, kind, 2, True, packed=False)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_time_major_matches_torch_sequence_first(kind):
    """Catches time_major swapping the wrong axes (PyTorch's batch_first=False is [T,B,I])."""
    torch = import_reference("torch")
    _compare(torch, kind, 2, True, packed=True, time_major=True)


@pytest.mark.parametrize("kind", TORCH_KINDS)
def test_round_trip_ours_torch_ours_is_exact(kind):
    """Catches a lossy or non-inverse layout (to_torch not the inverse of from_torch)."""
    torch = import_reference("torch")
    model = RNN(kind, H, num_layers=2, bidirectional=True, forget_bias=1.0)
    params = model.init(jax.random.key(1), np.zeros((B, T, D_IN), np.float32))["params"]
    sd = to_torch_rnn_state_dict(params, kind, 2, True)
    module = _torch_module(torch, kind, 2, True)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    back = from_torch_rnn_state_dict(module.state_dict(), kind, 2, True)
    params = nn.unbox(params)
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for ours, again in zip(jax.tree.leaves(params), jax.tree.leaves(back), strict=True):
        np.testing.assert_array_equal(again, np.asarray(ours))


def test_refuses_a_state_dict_of_another_cell():
    """Catches an LSTM's weights silently read as a GRU's (reshaped into the wrong gates)."""
    torch = import_reference("torch")
    lstm = _torch_module(torch, "lstm", 1, False).state_dict()
    with pytest.raises(ValueError, match=r"'weight_ih_l0' has shape \(24, 4\).*expects \(18, 4\)"):
        from_torch_rnn_state_dict(lstm, "gru", 1, False)


def test_refuses_missing_and_unexpected_keys():
    """Catches a config that disagrees with the checkpoint (layers, directions, bias, proj)."""
    torch = import_reference("torch")
    one_layer = _torch_module(torch, "gru", 1, False).state_dict()
    with pytest.raises(ValueError, match="no 'bias_hh_l1'"):
        from_torch_rnn_state_dict(one_layer, "gru", 2, False)
    bidirectional = _torch_module(torch, "gru", 1, True).state_dict()
    with pytest.raises(ValueError, match="Unexpected key 'weight_ih_l0_reverse'"):
        from_torch_rnn_state_dict(bidirectional, "gru", 1, False)
    no_bias = _torch_module(torch, "elman_tanh", 1, False, bias=False).state_dict()
    with pytest.raises(ValueError, match="no 'bias_hh_l0'"):
        from_torch_rnn_state_dict(no_bias, "elman_tanh", 1, False)
    projected = _torch_module(torch, "lstm", 1, False, proj_size=2).state_dict()
    with pytest.raises(ValueError, match="Unexpected key 'weight_hr_l0'"):
        from_torch_rnn_state_dict(projected, "lstm", 1, False)


def test_refuses_kinds_pytorch_lacks_and_mismatched_params():
    """Catches gru_reset_before exported as a PyTorch GRU (a different recurrence)."""
    with pytest.raises(ValueError, match="no recurrent module for cell 'gru_reset_before'"):
        from_torch_rnn_state_dict({}, "gru_reset_before", 1, False)
    params = RNN("gru", H).init(jax.random.key(0), np.zeros((B, T, D_IN), np.float32))["params"]
    with pytest.raises(ValueError, match=r"layer_0_fwd/wi has shape \(4, 3, 6\).*\[I,4,H\]"):
        to_torch_rnn_state_dict(params, "lstm", 1, False)
    broken = {"layer_0_fwd": {**params["layer_0_fwd"], "wh": params["layer_0_fwd"]["bh"]}}
    with pytest.raises(ValueError, match=r"layer_0_fwd/wh has shape \(3, 6\).*expects \(6, 3, 6\)"):
        to_torch_rnn_state_dict(broken, "gru", 1, False)
    with pytest.raises(ValueError, match=r"has entries \['bh', 'bi', 'wi'\]; expected wi, wh"):
        to_torch_rnn_state_dict({"layer_0_fwd": {"wi": 0, "bi": 0, "bh": 0}}, "gru", 1, False)
    with pytest.raises(ValueError, match="no 'layer_1_fwd'"):
        to_torch_rnn_state_dict(params, "gru", 2, False)
    with pytest.raises(ValueError, match="Unexpected entry 'layer_9_fwd'"):
        to_torch_rnn_state_dict({"layer_9_fwd": {}, **params}, "gru", 1, False)
