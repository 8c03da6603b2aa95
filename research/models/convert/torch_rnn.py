"""PyTorch `nn.RNN` / `nn.LSTM` / `nn.GRU` state dicts <-> `research.rnn.layer.RNN` parameters.

Both sides keep PyTorch's gate order (LSTM: i, f, g, o; GRU: r, z, n), so a weight only changes
layout. Per layer k and direction (suffix `_reverse` for the backward one):

  weight_ih_l{k} [G*H, I] <-> layer_{k}_{fwd|bwd}/wi [I,G,H]
  weight_hh_l{k} [G*H, H] <-> layer_{k}_{fwd|bwd}/wh [H,G,H]
  bias_ih_l{k}   [G*H]    <-> layer_{k}_{fwd|bwd}/bi [G,H]
  bias_hh_l{k}   [G*H]    <-> layer_{k}_{fwd|bwd}/bh [G,H]

Cell kinds: `elman_tanh` (`nn.RNN(nonlinearity='tanh')`), `elman_relu` (`nonlinearity='relu'`),
`lstm`, `gru` (PyTorch's reset-after GRU). `gru_reset_before` has no PyTorch module. Not
supported: `bias=False` and the LSTM's `proj_size` (their state dicts are refused by key).

    params = from_torch_rnn_state_dict(torch_lstm.state_dict(), "lstm", 2, True)
    outputs, finals = RNN("lstm", H, 2, bidirectional=True).apply({"params": params}, x)
    sd = to_torch_rnn_state_dict(params, "lstm", 2, True)
    torch_lstm.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
"""

import numpy as np
from flax.core import meta

from research.rnn.cells import Cell

GATES = {"elman_tanh": 1, "elman_relu": 1, "lstm": 4, "gru": 3}


def _check(cell_kind: str, num_layers: int):
    if cell_kind not in GATES:
        raise ValueError(
            f"PyTorch has no recurrent module for cell {cell_kind!r}; choose one of "
            f"{', '.join(GATES)}."
        )
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}.")


def _names(num_layers: int, bidirectional: bool):
    """(our layer name, PyTorch key suffix) in PyTorch's order."""
    directions = (("fwd", ""), ("bwd", "_reverse")) if bidirectional else (("fwd", ""),)
    return [(f"layer_{k}_{d}", f"l{k}{s}") for k in range(num_layers) for d, s in directions]


def from_torch_rnn_state_dict(state_dict, cell_kind: str, num_layers: int, bidirectional: bool):
    """A PyTorch RNN/LSTM/GRU state dict -> `RNN` params {'layer_0_fwd': {'wi','wh','bi','bh'}}.

    Values may be torch tensors or numpy arrays; sizes (H, I) are read from layer 0. A dict that
    does not match the cell (a missing or unexpected key, a wrong shape, e.g. an LSTM's dict given
    for a GRU) is refused naming the key. Returns float32 numpy arrays.
    Shapes: weight_ih [G*H, I] -> wi [I,G,H], weight_hh [G*H, H] -> wh [H,G,H], bias [G*H] -> [G,H].
    """
    _check(cell_kind, num_layers)
    sd = {}
    for key, value in state_dict.items():
        if hasattr(value, "detach"):  # torch.Tensor, without importing torch
            value = value.detach().cpu().float().numpy()
        sd[key] = np.asarray(value, np.float32)
    names = _names(num_layers, bidirectional)
    expected = {
        f"{w}_{s}" for _, s in names for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    }
    for key in sd:
        if key not in expected:
            raise ValueError(
                f"Unexpected key {key!r} in a state dict for a {num_layers}-layer "
                f"{'bidirectional ' if bidirectional else ''}{cell_kind}; check cell_kind, "
                "num_layers and bidirectional (bias=False and proj_size are not supported)."
            )
    missing = sorted(expected - set(sd))
    if missing:
        raise ValueError(
            f"The state dict has no {missing[0]!r}, which a {num_layers}-layer "
            f"{'bidirectional ' if bidirectional else ''}{cell_kind} needs; check cell_kind, "
            "num_layers and bidirectional."
        )

    g = GATES[cell_kind]
    w_hh = sd["weight_hh_l0"]
    hidden = w_hh.shape[-1] if w_hh.ndim == 2 else 0
    input_size = sd["weight_ih_l0"].shape[-1] if sd["weight_ih_l0"].ndim == 2 else 0
    directions = 2 if bidirectional else 1

    def get(key, shape):
        if sd[key].shape != shape:
            raise ValueError(
                f"State dict entry {key!r} has shape {sd[key].shape}, a {cell_kind} with "
                f"{g} gate(s), hidden size {hidden} (from weight_hh_l0) and input size "
                f"{input_size} expects {shape}; check cell_kind."
            )
        return sd[key]

    params = {}
    for name, suffix in names:
        layer_input = input_size if suffix.startswith("l0") else directions * hidden
        w_ih = get(f"weight_ih_{suffix}", (g * hidden, layer_input))
        params[name] = {
            "wi": w_ih.reshape(g, hidden, layer_input).transpose(2, 0, 1),
            "wh": get(f"weight_hh_{suffix}", (g * hidden, hidden))
            .reshape(g, hidden, hidden)
            .transpose(2, 0, 1),
            "bi": get(f"bias_ih_{suffix}", (g * hidden,)).reshape(g, hidden),
            "bh": get(f"bias_hh_{suffix}", (g * hidden,)).reshape(g, hidden),
        }
    return params


def to_torch_rnn_state_dict(params, cell_kind: str, num_layers: int, bidirectional: bool):
    """`RNN` params -> a PyTorch state dict of float32 numpy arrays (wrap each value in
    `torch.from_numpy` for `load_state_dict`, which refuses numpy arrays).

    `params` may hold the logically partitioned boxes `init` returns. Shapes: the inverse of
    `from_torch_rnn_state_dict`.
    """
    _check(cell_kind, num_layers)
    params = meta.unbox(params)
    g = GATES[cell_kind]
    names = _names(num_layers, bidirectional)
    unexpected = sorted(set(params) - {name for name, _ in names})
    if unexpected:
        raise ValueError(
            f"Unexpected entry {unexpected[0]!r} in the params of a {num_layers}-layer "
            f"{'bidirectional ' if bidirectional else ''}{cell_kind}; check num_layers and "
            "bidirectional."
        )
    sd = {}
    for name, suffix in names:
        if name not in params:
            raise ValueError(f"params has no {name!r}; check num_layers and bidirectional.")
        if sorted(params[name]) != ["bh", "bi", "wh", "wi"]:
            raise ValueError(
                f"params[{name!r}] has entries {sorted(params[name])}; expected wi, wh, bi, bh."
            )
        p = {k: np.array(v, np.float32) for k, v in params[name].items()}  # writable copies
        if p["wi"].ndim != 3 or p["wi"].shape[1] != g:
            raise ValueError(
                f"{name}/wi has shape {p['wi'].shape}; a {cell_kind} expects [I,{g},H], "
                "check cell_kind."
            )
        input_size, _, hidden = p["wi"].shape
        for key, shape in Cell(cell_kind, hidden).param_shapes(input_size).items():
            if p[key].shape != shape:
                raise ValueError(
                    f"{name}/{key} has shape {p[key].shape}; a {cell_kind} with "
                    f"input size {input_size} and hidden size {hidden} expects {shape}."
                )
        sd[f"weight_ih_{suffix}"] = p["wi"].transpose(1, 2, 0).reshape(g * hidden, input_size)
        sd[f"weight_hh_{suffix}"] = p["wh"].transpose(1, 2, 0).reshape(g * hidden, hidden)
        sd[f"bias_ih_{suffix}"] = p["bi"].reshape(g * hidden)
        sd[f"bias_hh_{suffix}"] = p["bh"].reshape(g * hidden)
    return sd
